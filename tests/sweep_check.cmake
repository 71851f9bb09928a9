# `moesim sweep` checks run by ctest: one row per run, errors recorded per run, --resume after an
# interruption neither loses nor duplicates runs and refuses rows of another scenario or build,
# one sweep per directory, --zip, infeasible and timed-out runs.
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
expect_run(0 "runs: 9  ok: 9  errors: 0  timeouts: 0  infeasible: 0" ${MOESIM} sweep ${SMOKE} --vary workload.tokens_per_gpu=8,16,32
           --vary placement.kind=contiguous,round_robin,greedy --jobs 2 -o ${WORK}/sw)
expect_runs(${WORK}/sw/sweep.csv 9)
file(STRINGS ${WORK}/sw/sweep.csv lines)
list(GET lines 0 header)
if(NOT header MATCHES "^run_id,workload.tokens_per_gpu,placement.kind,status,gpus,step_us_mean,.*,wall_s,build,scenario_hash,error$")
  message(FATAL_ERROR "unexpected sweep.csv header: ${header}")
endif()

# Determinism across thread counts: the same sweep on 1 and 3 threads gives the same rows (sorted
# by run_id, without the wall_s and build columns), whatever order the runs finished in.
function(sweep_rows csv out_var)
  file(STRINGS ${csv} lines)
  list(REMOVE_AT lines 0)
  set(rows "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE ",[0-9.]+,[^,]*,([0-9a-f]*,[^,]*)$" ",\\1" line "${line}")  # drop wall_s, build
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

# An existing sweep.csv needs --resume (or --restart); --resume with other keys or values is refused.
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
expect_run(2 "runs: 4  ok: 1  errors: 3  timeouts: 0  infeasible: 0" ${MOESIM} sweep ${SMOKE} --vary workload.steps=1,0
           --vary placement.kind=contiguous,nonsense -o ${WORK}/bad)
expect_runs(${WORK}/bad/sweep.csv 4)
file(READ ${WORK}/bad/sweep.csv bad)
if(NOT bad MATCHES "\n0,1,contiguous,ok," OR NOT bad MATCHES "\n2,0,contiguous,error,[^\n]*\"[^\n]*out of range")
  message(FATAL_ERROR "bad sweep rows are not as expected:\n${bad}")
endif()
expect_run(2 "from earlier runs: errors: 3" ${MOESIM} sweep ${SMOKE} --vary workload.steps=1,0
           --vary placement.kind=contiguous,nonsense -o ${WORK}/bad --resume)

# --vary syntax.
expect_run(2 "--vary 'x': expected key=v1" ${MOESIM} sweep ${SMOKE} --vary x -o ${WORK}/v)
expect_run(2 "--vary seed: key given twice" ${MOESIM} sweep ${SMOKE} --vary seed=1 --vary seed=2 -o ${WORK}/v)
expect_run(2 "--vary seed: value 2 is empty" ${MOESIM} sweep ${SMOKE} --vary seed=1,,2 -o ${WORK}/v)
expect_run(2 "--vary seed: value 1 is empty" ${MOESIM} sweep ${SMOKE} --vary seed= -o ${WORK}/v)
expect_run(2 "missing.toml" ${MOESIM} sweep ${SRC}/scenarios/missing.toml --vary seed=1)

# --resume checks each row's scenario hash and build: a changed --set (or scenario) is refused
# instead of silently reusing rows of another scenario; --restart discards the rows and starts over.
set(V --vary workload.tokens_per_gpu=8,16 --vary placement.kind=contiguous,greedy)
expect_run(0 "runs: 4  ok: 4" ${MOESIM} sweep ${SMOKE} ${V} -o ${WORK}/hash)
expect_run(0 "runs: 0 " ${MOESIM} sweep ${SMOKE} ${V} -o ${WORK}/hash --resume)
expect_run(2 "sweep.csv:2: run [0-9] was written for another scenario .*: in run 0, workload.steps = 3 there, 2 now; .*--restart to discard" ${MOESIM} sweep
           ${SMOKE} ${V} --set workload.steps=2 -o ${WORK}/hash --resume)
file(READ ${WORK}/hash/sweep.csv before)
expect_run(2 "--restart excludes --resume|--resume excludes --restart" ${MOESIM} sweep ${SMOKE} ${V}
           --set workload.steps=2 -o ${WORK}/hash --resume --restart)
expect_run(0 "--restart: .*sweep.csv discarded.*runs: 4  ok: 4" ${MOESIM} sweep ${SMOKE} ${V} --set workload.steps=2
           -o ${WORK}/hash --restart)
expect_runs(${WORK}/hash/sweep.csv 4)
file(READ ${WORK}/hash/sweep.csv after)
if(before STREQUAL after)
  message(FATAL_ERROR "--restart left the old rows")
endif()
expect_run(0 "runs: 0 " ${MOESIM} sweep ${SMOKE} ${V} --set workload.steps=2 -o ${WORK}/hash --resume)
expect_run(2 "was written for another scenario" ${MOESIM} sweep ${SMOKE} ${V} -o ${WORK}/hash --resume)
# Rows of another build are refused too (the build column edited as another build would write it).
string(REGEX REPLACE ",([0-9.]+)\\+([0-9a-z]+)," ",\\1+0other0," other "${after}")
file(WRITE ${WORK}/build/sweep.csv "${other}")
expect_run(2 "sweep.csv:2: run [0-9] was written by moesim [0-9.]+\\+0other0, this is moesim" ${MOESIM} sweep ${SMOKE}
           ${V} --set workload.steps=2 -o ${WORK}/build --resume)

# One sweep per directory: a second sweep is refused at once while the first holds the lock (the
# second starts when the first has printed its start line), and the first completes.
execute_process(
  COMMAND ${MOESIM} sweep ${SMOKE} --set workload.steps=100 --vary seed=1,2,3,4,5,6,7,8,9,10,11,12 --jobs 1
          -o ${WORK}/lock
  COMMAND sh -c "read line; \"$0\" sweep \"$1\" --vary seed=1 -o \"$2\" --resume; echo second=$?; cat >/dev/null"
          ${MOESIM} ${SMOKE} ${WORK}/lock
  RESULTS_VARIABLE rcs OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
if(NOT rcs STREQUAL "0;0" OR NOT out MATCHES "second=2" OR NOT err MATCHES "lock: another sweep \\(pid [0-9]+\\) is running in this directory")
  message(FATAL_ERROR "a second sweep on a locked directory was not refused (${rcs}):\n${out}\n${err}")
endif()
expect_runs(${WORK}/lock/sweep.csv 12)
expect_run(0 "runs: 0 " ${MOESIM} sweep ${SMOKE} --set workload.steps=100 --vary seed=1,2,3,4,5,6,7,8,9,10,11,12
           -o ${WORK}/lock --resume)  # the lock went with the first sweep

# --zip: keys swept together (one axis), crossed with --vary; the last axis varies fastest.
expect_run(0 "runs: 6  ok: 6" ${MOESIM} sweep ${SMOKE} --vary placement.kind=contiguous,greedy
           --zip workload.tokens_per_gpu=8,16,32 seed=1,2,3 -o ${WORK}/zip)
expect_runs(${WORK}/zip/sweep.csv 6)
file(READ ${WORK}/zip/sweep.csv zip)
if(NOT zip MATCHES "^run_id,placement.kind,workload.tokens_per_gpu,seed,status,"
   OR NOT zip MATCHES "\n0,contiguous,8,1,ok," OR NOT zip MATCHES "\n1,contiguous,16,2,ok,"
   OR NOT zip MATCHES "\n5,greedy,32,3,ok,")
  message(FATAL_ERROR "--zip rows are not as expected:\n${zip}")
endif()
expect_run(0 "runs: 4  ok: 4" ${MOESIM} sweep ${SMOKE} --zip seed=1,2 workload.steps=1,2
           --zip workload.tokens_per_gpu=8,16 -o ${WORK}/zip2)
file(READ ${WORK}/zip2/sweep.csv zip2)
if(NOT zip2 MATCHES "\n1,1,1,16,ok," OR NOT zip2 MATCHES "\n2,2,2,8,ok,")
  message(FATAL_ERROR "two --zip groups are not crossed as expected:\n${zip2}")
endif()
expect_run(2 "--zip: seed has 2 values but workload.steps has 3" ${MOESIM} sweep ${SMOKE} --zip seed=1,2
           workload.steps=1,2,3 -o ${WORK}/z)
expect_run(2 "--zip seed: key given twice" ${MOESIM} sweep ${SMOKE} --vary seed=1,2 --zip seed=1,2 -o ${WORK}/z)
expect_run(2 "nothing to vary" ${MOESIM} sweep ${SMOKE} -o ${WORK}/z)

# A configuration that does not fit in GPU memory is an answer, not a failure: status infeasible
# with the reason, exit 0; plan still finds its answer among the others (exit 0).
expect_run(0 "runs: 2  ok: 1  errors: 0  timeouts: 0  infeasible: 1" ${MOESIM} sweep ${SMOKE}
           --vary workload.kv_len=1024,200000 -o ${WORK}/mem)
file(READ ${WORK}/mem/sweep.csv mem)
if(NOT mem MATCHES "\n1,200000,infeasible,[^\n]*\"[^\n]*does not fit in GPU memory")
  message(FATAL_ERROR "infeasible row not as expected:\n${mem}")
endif()
expect_run(0 "from earlier runs: errors: 0  infeasible: 1" ${MOESIM} sweep ${SMOKE} --vary workload.kv_len=1024,200000
           -o ${WORK}/mem --resume)
expect_run(0 "1 of 1 configurations meet it\n\\(1 more do not fit in GPU memory.*best: workload.kv_len=1024" ${MOESIM}
           plan ${SMOKE} --vary workload.kv_len=1024,200000 --target-tokens-per-s 1000 --max-step-ms 10
           -o ${WORK}/plan-mem)

# --run-timeout: a run past its wall-clock limit (100,000 steps: about a minute) is stopped and
# recorded as timeout while the others complete (exit 2); --resume runs it again.
expect_run(2 "runs: 2  ok: 1  errors: 0  timeouts: 1  infeasible: 0" ${MOESIM} sweep ${SMOKE}
           --vary workload.steps=1,100000 --run-timeout 0.3 -o ${WORK}/slow)
file(READ ${WORK}/slow/sweep.csv slow)
if(NOT slow MATCHES "\n0,1,ok," OR NOT slow MATCHES "\n1,100000,timeout,[^\n]*\"[^\n]*--run-timeout")
  message(FATAL_ERROR "timeout rows not as expected:\n${slow}")
endif()
expect_run(2 "1 of them timed out before and run again.*runs: 1  ok: 0  errors: 0  timeouts: 1" ${MOESIM} sweep
           ${SMOKE} --vary workload.steps=1,100000 --run-timeout 0.3 -o ${WORK}/slow --resume)
expect_runs(${WORK}/slow/sweep.csv 2)
expect_run(2 "--run-timeout: a finite number > 0, got nan|a finite number > 0, got nan" ${MOESIM} sweep ${SMOKE}
           --vary seed=1 --run-timeout nan -o ${WORK}/nan)
