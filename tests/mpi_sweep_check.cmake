# MPI sweep: the same rows as a local sweep (rank 0 gathers them, with their statuses), and a
# set-up error ends every rank instead of leaving the workers waiting.
# Usage: cmake -DMPIEXEC=... -DMOESIM=... -DSRC=... -DWORK=... -P mpi_sweep_check.cmake
file(REMOVE_RECURSE "${WORK}")
set(vary --vary workload.tokens_per_gpu=8,16,32 --vary placement.kind=contiguous,greedy)
execute_process(COMMAND ${MPIEXEC} --allow-run-as-root --oversubscribe -n 3 ${MOESIM} sweep ${SRC}/scenarios/smoke.toml
                        ${vary} --jobs 1 -o ${WORK}/mpi
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0 OR NOT out MATCHES "on 2 MPI ranks")
  message(FATAL_ERROR "mpirun sweep failed (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${MOESIM} sweep ${SRC}/scenarios/smoke.toml ${vary} --jobs 2 -o ${WORK}/local
                RESULT_VARIABLE rc OUTPUT_QUIET)
# Same rows once sorted by run_id and without the wall_s column (before build, scenario_hash, error):
# the build and the scenario hash are the same too.
foreach(which mpi local)
  file(STRINGS ${WORK}/${which}/sweep.csv lines)
  list(SORT lines)
  set(clean "")
  foreach(l IN LISTS lines)
    string(REGEX REPLACE ",[0-9.]+,([^,]+,[0-9a-f]+,)$" ",,\\1" l "${l}")
    list(APPEND clean "${l}")
  endforeach()
  set(${which}_rows "${clean}")
endforeach()
list(LENGTH mpi_rows n)
if(NOT n EQUAL 7)  # header + 3 x 2 runs
  message(FATAL_ERROR "MPI sweep.csv has ${n} lines, expected 7")
endif()
if(NOT mpi_rows STREQUAL local_rows)
  message(FATAL_ERROR "MPI and local sweeps differ:\n${mpi_rows}\n---\n${local_rows}")
endif()
execute_process(COMMAND ${MPIEXEC} --allow-run-as-root --oversubscribe -n 3 ${MOESIM} sweep ${SRC}/scenarios/smoke.toml
                        ${vary} -o ${WORK}/mpi
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "already exists")
  message(FATAL_ERROR "an existing sweep.csv without --resume should fail on every rank (${rc}):\n${out}${err}")
endif()
# Every status travels from the worker ranks: ok, infeasible (does not fit: exit 0), error (exit 2).
execute_process(COMMAND ${MPIEXEC} --allow-run-as-root --oversubscribe -n 3 ${MOESIM} sweep ${SRC}/scenarios/smoke.toml
                        --vary workload.kv_len=1024,200000 --vary placement.kind=contiguous,nonsense --jobs 1
                        -o ${WORK}/status
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
if(rc EQUAL 0 OR NOT out MATCHES "runs: 4  ok: 1  errors: 2  timeouts: 0  infeasible: 1")
  message(FATAL_ERROR "MPI sweep statuses not as expected (${rc}):\n${out}${err}")
endif()
