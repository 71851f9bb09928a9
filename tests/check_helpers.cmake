# Helpers shared by the ctest scripts that drive the moesim binary (cli_check, sweep_check).

function(expect_run code pattern)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL ${code})
    message(FATAL_ERROR "expected exit ${code}, got ${rc}: ${ARGN}\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(NOT "${out}${err}" MATCHES "${pattern}")
    message(FATAL_ERROR "output of ${ARGN} does not match '${pattern}':\n${out}${err}")
  endif()
endfunction()

function(expect_same_file a b why)
  file(READ ${a} ta)
  file(READ ${b} tb)
  if(NOT ta STREQUAL tb)
    message(FATAL_ERROR "${why}: ${a} and ${b} differ")
  endif()
endfunction()
