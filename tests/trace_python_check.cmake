# The Python trace writer (tools/trace_format.py) and the C++ reader agree byte for byte.
# Usage: cmake -DPYTHON=<python3> -DTESTS=<moesim_tests> -DSRC=<source dir> -DWORK=<dir> -P trace_python_check.cmake
# Fails (never passes unchecked) when an input is missing, the Python writer fails, or the hidden
# Catch2 case [python_writer] in tests/test_trace_format.cpp does not run or checks nothing.
foreach(var PYTHON TESTS SRC WORK)
  if(NOT ${var})
    message(FATAL_ERROR "trace_python_check.cmake: -D${var}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
execute_process(COMMAND ${PYTHON} ${SRC}/tests/trace_python_check.py --out ${WORK}
                RESULT_VARIABLE rc OUTPUT_VARIABLE path ERROR_VARIABLE py_err OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "trace_python_check.py failed (${rc}):\n${py_err}")
endif()
if(NOT path OR NOT EXISTS "${path}")
  message(FATAL_ERROR "trace_python_check.py did not write a trace (it printed \"${path}\")")
endif()
# -w NoTests: exit code 2 when the tag matches no test case (Catch2 v2 takes one -w only; the
# count of assertions is checked below).
execute_process(COMMAND ${CMAKE_COMMAND} -E env MOESIM_PY_TRACE=${path}
                        ${TESTS} "[python_writer]" -w NoTests
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "C++ check of the Python-written trace failed (${rc}):\n${out}${err}")
endif()
# Catch2 ends with "All tests passed (N assertions in 1 test case)": exactly one case, N > 0.
if(NOT out MATCHES "All tests passed \\(([0-9]+) assertions? in 1 test case\\)" OR CMAKE_MATCH_1 EQUAL 0)
  message(FATAL_ERROR "C++ check of the Python-written trace did not run as expected:\n${out}${err}")
endif()
message(STATUS "Python-written trace ${path}: ${CMAKE_MATCH_1} assertions passed")
