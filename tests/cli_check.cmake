# CLI checks run by ctest: exit codes and messages of `moesim` on good and bad input.
# Usage: cmake -DMOESIM=<binary> -DSRC=<source dir> -DWORK=<scratch dir> -P cli_check.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

function(expect_run code pattern)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL ${code})
    message(FATAL_ERROR "expected exit ${code}, got ${rc}: ${ARGN}\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(NOT "${out}${err}" MATCHES "${pattern}")
    message(FATAL_ERROR "output of ${ARGN} does not match '${pattern}':\n${out}${err}")
  endif()
endfunction()

# A good run writes every result file.
expect_run(0 "throughput" ${MOESIM} run ${SRC}/scenarios/smoke.toml -o ${WORK}/smoke)
foreach(f summary.json per_step.csv per_layer.csv per_gpu.csv per_link.csv gpu_layer.csv timeline.json scenario.resolved.toml)
  if(NOT EXISTS ${WORK}/smoke/${f})
    message(FATAL_ERROR "missing ${f}")
  endif()
endforeach()
# The resolved scenario runs again to the same result.
expect_run(0 ".*" ${MOESIM} run ${WORK}/smoke/scenario.resolved.toml -o ${WORK}/again -q)
file(READ ${WORK}/smoke/per_step.csv a)
file(READ ${WORK}/again/per_step.csv b)
if(NOT a STREQUAL b)
  message(FATAL_ERROR "re-running the resolved scenario gave different per_step.csv")
endif()

# Bad input: exit code 2 and the place named.
file(WRITE ${WORK}/bad.toml "name = \"x\"\n[modle]\npreset = \"deepseek-v3\"\n")
expect_run(2 "bad.toml:2:2: unknown key \"modle\" \\(did you mean \"model\"\\?\\)" ${MOESIM} run ${WORK}/bad.toml)
expect_run(2 "--set workload.steps=0" ${MOESIM} run ${SRC}/scenarios/smoke.toml --set workload.steps=0)
expect_run(2 "missing.toml: File could not be opened" ${MOESIM} run ${WORK}/missing.toml)
expect_run(2 "scenario is required" ${MOESIM} run)
file(WRITE ${WORK}/badtopo.toml "[generator]\nkind = \"hgx\"\nnodes = 0\n")
expect_run(2 "badtopo.toml:3" ${MOESIM} topo show ${WORK}/badtopo.toml)

# topo show prints the summary and writes Graphviz.
expect_run(0 "bisection" ${MOESIM} topo show ${SRC}/topologies/gb200-nvl72-x2.toml --dot ${WORK}/x2.dot)
file(READ ${WORK}/x2.dot dot)
if(NOT dot MATCHES "graph")
  message(FATAL_ERROR "x2.dot is not Graphviz")
endif()
