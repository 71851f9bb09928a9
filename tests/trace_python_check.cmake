# The Python trace writer (tools/trace_format.py) and the C++ reader agree byte for byte.
# Usage: cmake -DPYTHON=<python3> -DTESTS=<moesim_tests> -DSRC=<source dir> -DWORK=<dir> -P trace_python_check.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
execute_process(COMMAND ${PYTHON} ${SRC}/tests/trace_python_check.py --out ${WORK}
                RESULT_VARIABLE rc OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "trace_python_check.py failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env MOESIM_PY_TRACE=${path} ${TESTS} "*Python writer*"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "C++ check of the Python-written trace failed:\n${out}${err}")
endif()
