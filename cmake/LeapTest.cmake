# leap_add_test(NAME SOURCES ... [LIBS ...] [LABELS ...]): the one place tests are registered.
# Tests under tests/ mirror the source tree; each is a plain C program that exits non-zero on failure and 77 to
# report a skip (for example a GPU test on a machine without a device).
function(leap_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE leap_test_support ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  # Passive OpenMP waiting: ctest runs tests side by side, and spinning threads of one test would steal the cores
  # the other needs (a barrier then costs a whole scheduler slice).
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE")
  if(T_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()

# leap_add_tests_in(DIR LIBS ...): every test_*.c in DIR becomes one test named after its path.
function(leap_add_tests_in dir)
  cmake_parse_arguments(T "" "" "LIBS;LABELS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/test_*.c)
  foreach(src ${sources})
    get_filename_component(base ${src} NAME_WE)
    file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR}/tests ${dir})
    string(REPLACE "/" "_" prefix "${rel}")
    leap_add_test(${prefix}_${base} SOURCES ${src} LIBS ${T_LIBS} LABELS ${T_LABELS})
  endforeach()
endfunction()
