# `moesim sweep` checks run by ctest: one row per run, errors recorded per run, --resume after an
# interruption neither loses nor duplicates runs.
# Usage: cmake -DMOESIM=<binary> -DSRC=<source dir> -DWORK=<scratch dir> -P sweep_check.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)

# Checks that `csv` has `n` rows with run_ids exactly 0..n-1, none twice.
function(expect_runs csv n)
  file(STRINGS ${csv} lines)
  list(POP_FRONT lines header)
  set(ids "")
  foreach(line IN LISTS lines)
    string(REGEX MATCH "^[0-9]+" id "${line}")
    list(APPEND ids "${id}")
  endforeach()
  list(LENGTH ids rows)
  list(REMOVE_DUPLICATES ids)
  list(LENGTH ids distinct)
  math(EXPR last "${n} - 1")
  foreach(i RANGE ${last})
    list(FIND ids ${i} at)
    if(at LESS 0)
      message(FATAL_ERROR "${csv}: run ${i} is missing")
    endif()
  endforeach()
  if(NOT rows EQUAL ${n} OR NOT distinct EQUAL ${n})
    message(FATAL_ERROR "${csv}: ${rows} rows, ${distinct} distinct run_ids, expected ${n}")
  endif()
endfunction()

set(SMOKE ${SRC}/scenarios/smoke.toml)

# 3 x 3 runs, one row each, header naming the varied keys.
expect_run(0 "runs: 9  ok: 9  errors: 0" ${MOESIM} sweep ${SMOKE} --vary workload.tokens_per_gpu=8,16,32
           --vary placement.kind=contiguous,round_robin,greedy --jobs 2 -o ${WORK}/sw)
expect_runs(${WORK}/sw/sweep.csv 9)
file(STRINGS ${WORK}/sw/sweep.csv lines)
list(GET lines 0 header)
if(NOT header MATCHES "^run_id,workload.tokens_per_gpu,placement.kind,status,gpus,step_us_mean,.*,wall_s,error$")
  message(FATAL_ERROR "unexpected sweep.csv header: ${header}")
endif()

# Determinism across thread counts: the same sweep on 1 and 3 threads gives the same rows (sorted
# by run_id, without the wall_s column), whatever order the runs finished in.
function(sweep_rows csv out_var)
  file(STRINGS ${csv} lines)
  list(REMOVE_AT lines 0)
  set(rows "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE ",[0-9.]+,([^,]*)$" ",\\1" line "${line}")  # drop wall_s (keep error)
    list(APPEND rows "${line}")
  endforeach()
  list(SORT rows COMPARE NATURAL)
  set(${out_var} "${rows}" PARENT_SCOPE)
endfunction()
foreach(jobs 1 3)
  file(REMOVE_RECURSE ${WORK}/det${jobs})
  expect_run(0 "runs: 8  ok: 8" ${MOESIM} sweep ${SMOKE} --vary gate.zipf_exponent=0.8,1.3
             --vary network.model=flow,analytic --vary placement.kind=greedy,contiguous --set gate.kind=zipf
             --jobs ${jobs} -o ${WORK}/det${jobs})
  sweep_rows(${WORK}/det${jobs}/sweep.csv rows${jobs})
endforeach()
list(LENGTH rows1 n_rows)
if(NOT n_rows EQUAL 8 OR rows1 MATCHES "wall")
  message(FATAL_ERROR "expected 8 sweep rows, got ${n_rows}: ${rows1}")
endif()
if(NOT rows1 STREQUAL rows3)
  message(FATAL_ERROR "sweep rows differ between --jobs 1 and --jobs 3:\n${rows1}\n---\n${rows3}")
endif()

# An existing sweep.csv needs --resume; --resume with other keys or values is refused.
expect_run(2 "already exists: pass --resume" ${MOESIM} sweep ${SMOKE} --vary workload.tokens_per_gpu=8 -o ${WORK}/sw)
expect_run(2 "header is not this sweep's" ${MOESIM} sweep ${SMOKE} --vary workload.tokens_per_gpu=8 -o ${WORK}/sw
           --resume)
expect_run(2 "in this sweep it is 33" ${MOESIM} sweep ${SMOKE} --vary workload.tokens_per_gpu=8,16,33
           --vary placement.kind=contiguous,round_robin,greedy -o ${WORK}/sw --resume)
expect_run(0 "runs: 0 " ${MOESIM} sweep ${SMOKE} --vary workload.tokens_per_gpu=8,16,32
           --vary placement.kind=contiguous,round_robin,greedy -o ${WORK}/sw --resume)

# A last line cut short is dropped and its run done again.
list(SUBLIST lines 0 5 kept)
list(JOIN kept "\n" text)
file(WRITE ${WORK}/cut/sweep.csv "${text}\n7,32,round_robin,ok,29")
expect_run(0 "runs: 5  ok: 5" ${MOESIM} sweep ${SMOKE} --vary workload.tokens_per_gpu=8,16,32
           --vary placement.kind=contiguous,round_robin,greedy -o ${WORK}/cut --resume)
expect_runs(${WORK}/cut/sweep.csv 9)

# Interrupted (killed after 1 s) and resumed: exactly 100 runs, none twice.
set(T 8,16,24,32,40,48,56,64,72,80)
set(S 1,2,3,4,5,6,7,8,9,10)
execute_process(COMMAND ${MOESIM} sweep ${SMOKE} --set workload.steps=100 --vary workload.tokens_per_gpu=${T}
                --vary seed=${S} --jobs 2 -o ${WORK}/big TIMEOUT 1 OUTPUT_QUIET ERROR_QUIET)
expect_run(0 "ok: [0-9]+  errors: 0" ${MOESIM} sweep ${SMOKE} --set workload.steps=100 --vary workload.tokens_per_gpu=${T}
           --vary seed=${S} --jobs 2 -o ${WORK}/big --resume)
expect_runs(${WORK}/big/sweep.csv 100)

# A bad value fails its runs only: error rows, exit 2, the other runs complete.
expect_run(2 "runs: 4  ok: 1  errors: 3" ${MOESIM} sweep ${SMOKE} --vary workload.steps=1,0
           --vary placement.kind=contiguous,nonsense -o ${WORK}/bad)
expect_runs(${WORK}/bad/sweep.csv 4)
file(READ ${WORK}/bad/sweep.csv bad)
if(NOT bad MATCHES "\n0,1,contiguous,ok," OR NOT bad MATCHES "\n2,0,contiguous,error,[^\n]*\"[^\n]*out of range")
  message(FATAL_ERROR "bad sweep rows are not as expected:\n${bad}")
endif()
expect_run(2 "errors from earlier runs: 3" ${MOESIM} sweep ${SMOKE} --vary workload.steps=1,0
           --vary placement.kind=contiguous,nonsense -o ${WORK}/bad --resume)

# --vary syntax.
expect_run(2 "--vary 'x': expected key=v1" ${MOESIM} sweep ${SMOKE} --vary x -o ${WORK}/v)
expect_run(2 "--vary seed: key given twice" ${MOESIM} sweep ${SMOKE} --vary seed=1 --vary seed=2 -o ${WORK}/v)
expect_run(2 "--vary seed: value 2 is empty" ${MOESIM} sweep ${SMOKE} --vary seed=1,,2 -o ${WORK}/v)
expect_run(2 "--vary seed: value 1 is empty" ${MOESIM} sweep ${SMOKE} --vary seed= -o ${WORK}/v)
expect_run(2 "missing.toml" ${MOESIM} sweep ${SRC}/scenarios/missing.toml --vary seed=1)
