# CLI checks run by ctest: exit codes and messages of `moesim` on good and bad input.
# Usage: cmake -DMOESIM=<binary> -DSRC=<source dir> -DWORK=<scratch dir> -P cli_check.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)



# A good run writes every result file.
expect_run(0 "throughput" ${MOESIM} run ${SRC}/scenarios/smoke.toml -o ${WORK}/smoke)
foreach(f summary.json per_step.csv per_layer.csv per_gpu.csv per_link.csv gpu_layer.csv timeline.json scenario.resolved.toml)
  if(NOT EXISTS ${WORK}/smoke/${f})
    message(FATAL_ERROR "missing ${f}")
  endif()
endforeach()
# The resolved scenario runs again to the same result.
expect_run(0 ".*" ${MOESIM} run ${WORK}/smoke/scenario.resolved.toml -o ${WORK}/again -q)
expect_same_file(${WORK}/smoke/per_step.csv ${WORK}/again/per_step.csv "re-running the resolved scenario")

# Bad input: exit code 2 and the place named.
file(WRITE ${WORK}/bad.toml "name = \"x\"\n[modle]\npreset = \"deepseek-v3\"\n")
expect_run(2 "bad.toml:2:2: unknown key \"modle\" \\(did you mean \"model\"\\?\\)" ${MOESIM} run ${WORK}/bad.toml)
expect_run(2 "--set workload.steps=0" ${MOESIM} run ${SRC}/scenarios/smoke.toml --set workload.steps=0)
expect_run(2 "missing.toml: File could not be opened" ${MOESIM} run ${WORK}/missing.toml)
expect_run(2 "scenario is required" ${MOESIM} run)
# A missing topology or profile names the scenario key (file:line:col, or the --set) that pointed to it.
file(READ ${SRC}/scenarios/smoke.toml smoke)
string(REPLACE "../topologies/hgx-h100.toml" "nowhere.toml" smoke "${smoke}")
string(REPLACE "../calibrate/" "${SRC}/calibrate/" smoke "${smoke}")
file(WRITE ${WORK}/missingtopo.toml "${smoke}")
expect_run(2 "missingtopo.toml:[0-9]+:12: hardware.topology: [^\n]*nowhere.toml: File could not be opened"
           ${MOESIM} run ${WORK}/missingtopo.toml -q -o ${WORK}/missingtopo)
expect_run(2 "--set hardware.profile=[^:]*: hardware.profile: [^\n]*noprofile.toml: File could not be opened"
           ${MOESIM} run ${SRC}/scenarios/smoke.toml --set "hardware.profile=\"${WORK}/noprofile.toml\"" -q
           -o ${WORK}/noprofile)
file(WRITE ${WORK}/badtopo.toml "[generator]\nkind = \"hgx\"\nnodes = 0\n")
expect_run(2 "badtopo.toml:3" ${MOESIM} topo show ${WORK}/badtopo.toml)

# topo show prints the summary and writes Graphviz.
expect_run(0 "bisection" ${MOESIM} topo show ${SRC}/topologies/gb200-nvl72-x2.toml --dot ${WORK}/x2.dot)
# ... and the node names that [[faults]] targets use: switches by name, many GPUs as a range.
expect_run(0 "nodes by kind.*gpu +32  gpu0, gpu1, \\.\\.\\., gpu31\n.*nvswitch +4  node0.nvswitch.*switch +12  leaf0 [^\n]* spine3\n"
           ${MOESIM} topo show ${SRC}/topologies/hgx-h100-x4-ib.toml)
file(READ ${WORK}/x2.dot dot)
if(NOT dot MATCHES "graph")
  message(FATAL_ERROR "x2.dot is not Graphviz")
endif()

# Traces: generate, inspect, import, replay.
expect_run(0 "wrote .*3 steps x 3 MoE layers x 8 ranks x 32 tokens" ${MOESIM} trace gen ${SRC}/scenarios/smoke.toml --ranks 8 -o ${WORK}/smoke.moetrace)
expect_run(0 "max/mean" ${MOESIM} trace stats ${WORK}/smoke.moetrace)
expect_run(0 "\"layers\"" ${MOESIM} trace stats ${WORK}/smoke.moetrace --json)
expect_run(0 "wrote" ${MOESIM} trace import rows ${SRC}/scenarios/traces/example_rows.csv -o ${WORK}/rows.moetrace)
expect_run(0 "wrote" ${MOESIM} trace import npy ${SRC}/scenarios/traces/example_ids.npy -o ${WORK}/ids.moetrace)
expect_run(0 "counts only" ${MOESIM} trace import counts ${SRC}/scenarios/traces/example_counts.csv -o ${WORK}/counts.moetrace)
expect_run(0 ".*" ${MOESIM} run ${SRC}/scenarios/smoke-trace.toml --set "gate.trace=\"${WORK}/smoke.moetrace\"" -o ${WORK}/replay -q)
expect_same_file(${WORK}/replay/per_step.csv ${WORK}/smoke/per_step.csv "replaying the generated trace")
file(WRITE ${WORK}/bad.moetrace "MOESIMTR")
expect_run(2 "bad.moetrace: byte" ${MOESIM} trace stats ${WORK}/bad.moetrace)
expect_run(2 "top_k" ${MOESIM} run ${SRC}/scenarios/smoke-trace.toml --set model.top_k=3 -q -o ${WORK}/bad)

# compare: a table, compare.csv, one results directory per placement; a placement that fails to
# run is reported in its row and makes the exit code 2 while the others still run.
expect_run(0 "round_robin" ${MOESIM} compare ${SRC}/scenarios/smoke.toml --placement contiguous,round_robin -o ${WORK}/cmp)
if(NOT EXISTS ${WORK}/cmp/compare.csv OR NOT EXISTS ${WORK}/cmp/round_robin/summary.json)
  message(FATAL_ERROR "compare did not write compare.csv and per-placement results")
endif()
expect_run(2 "from_file +error: " ${MOESIM} compare ${SRC}/scenarios/smoke.toml --placement contiguous,from_file -o ${WORK}/cmp2)
if(NOT EXISTS ${WORK}/cmp2/contiguous/summary.json)
  message(FATAL_ERROR "compare did not run the other placements past a failing one")
endif()
# A misspelt placement name fails before any placement runs, naming the valid ones.
expect_run(2 "unknown placement \"nonsense\" \\(expected one of: contiguous, round_robin, .*from_file\\); nothing was run"
           ${MOESIM} compare ${SRC}/scenarios/smoke.toml --placement contiguous,nonsense -o ${WORK}/cmp3)
if(EXISTS ${WORK}/cmp3)
  message(FATAL_ERROR "compare ran placements before reporting a misspelt name")
endif()

# Every run writes the placement it used; from_file replays it to the same result.
expect_run(0 ".*" ${MOESIM} run ${SRC}/scenarios/smoke.toml --set placement.kind=greedy -o ${WORK}/greedy -q)
expect_run(0 ".*" ${MOESIM} run ${SRC}/scenarios/smoke.toml --set placement.kind=from_file
           --set "placement.file=\"${WORK}/greedy/placement.toml\"" -o ${WORK}/fromfile -q)
expect_same_file(${WORK}/greedy/per_step.csv ${WORK}/fromfile/per_step.csv "from_file with the written greedy placement")
file(WRITE ${WORK}/badplace.csv "layer,expert,gpu\n*,0,99\n")
expect_run(2 "badplace.csv:2" ${MOESIM} run ${SRC}/scenarios/smoke.toml --set placement.kind=from_file
           --set "placement.file=\"${WORK}/badplace.csv\"" -q -o ${WORK}/bad2)

# redundant without redundant_slots where the experts do not divide over the GPUs: an error at the
# placement key listing slot counts that work, not a silent pick.
expect_run(2 "--set placement.kind=redundant: placement.kind: placement redundant needs redundant_slots: 256 experts do not divide evenly over 72 GPUs; .*: 32, 104, 176"
           ${MOESIM} run ${SRC}/scenarios/default.toml --set placement.kind=redundant -q -o ${WORK}/noslots)
file(READ ${SRC}/scenarios/smoke.toml smoke)
string(REPLACE "kind = \"contiguous\"" "kind = \"redundant\"\nredundant_slots = 3" smoke "${smoke}")
string(REPLACE "../" "${SRC}/" smoke "${smoke}")
file(WRITE ${WORK}/badslots.toml "${smoke}")
expect_run(2 "badslots.toml:[0-9]+:19: placement.redundant_slots: placement redundant: .*use redundant_slots = 0 or 8"
           ${MOESIM} run ${WORK}/badslots.toml -q -o ${WORK}/badslots)

# Routed experts that do not divide over the EP GPUs (16 on 6) with contiguous or round_robin: a
# note on stderr (even with -q) and in summary.json; none where they divide.
expect_run(0 "note: 16 routed experts do not divide evenly over 6 EP GPUs: with round_robin placement 4 GPUs hold 3 experts a layer and 2 hold 2"
           ${MOESIM} run ${SRC}/scenarios/smoke.toml --set parallelism.ep=6 --set placement.kind=round_robin -q
           -o ${WORK}/uneven)
file(READ ${WORK}/uneven/summary.json uneven)
if(NOT uneven MATCHES "16 routed experts do not divide evenly over 6 EP GPUs")
  message(FATAL_ERROR "summary.json lacks the uneven-experts note")
endif()
file(READ ${WORK}/smoke/summary.json even)
if(even MATCHES "divide evenly")
  message(FATAL_ERROR "an uneven-experts note where 16 experts divide over 8 GPUs")
endif()

# plan: the cheapest configuration meeting both targets, and the runner-up with the reason it lost.
expect_run(0 "best: workload.tokens_per_gpu=32 .*runner-up: workload.tokens_per_gpu=16 lost because same 8 GPUs"
           ${MOESIM} plan ${SRC}/scenarios/smoke.toml --vary workload.tokens_per_gpu=8,16,32 --jobs 2
           --target-tokens-per-s 1000 --max-step-ms 10 -o ${WORK}/plan)
expect_run(0 "no configuration meets both targets" ${MOESIM} plan ${SRC}/scenarios/smoke.toml
           --vary workload.tokens_per_gpu=8,16 --target-tokens-per-s 1e12 --max-step-ms 10 -o ${WORK}/plan2)

# What a new user trips on: the version, a directory given as a file, a NaN target, a --set that
# spans lines, a name that would leave results/.
expect_run(0 "moesim [0-9]+\\.[0-9]+\\.[0-9]+ \\(commit [0-9a-z]+, [A-Za-z]+ build\\)" ${MOESIM} --version)
expect_run(2 "scenarios: is a directory, not a TOML file" ${MOESIM} run ${SRC}/scenarios)
expect_run(2 "a finite number > 0, got nan" ${MOESIM} plan ${SRC}/scenarios/smoke.toml --vary workload.steps=1
           --target-tokens-per-s nan --max-step-ms 10 -o ${WORK}/plan-nan)
expect_run(2 "cannot span lines" ${MOESIM} run ${SRC}/scenarios/smoke.toml --set "workload.steps=1\nseed = 3" -q
           -o ${WORK}/lines)
expect_run(2 "is not a usable name" ${MOESIM} run ${SRC}/scenarios/smoke.toml --set "name=\"../../x\"" -q)
expect_run(2 "/dev/zero: not a regular file" ${MOESIM} topo show /dev/zero)
