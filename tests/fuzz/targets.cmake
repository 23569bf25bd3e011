# The fuzz targets (tests/fuzz/<name>.c), shared by the libFuzzer build
# (tests/fuzz/CMakeLists.txt, -DORDERFLEET_FUZZ=ON) and the corpus replay
# tests every build runs (tests/CMakeLists.txt). A new target: its name here,
# its libraries in orderfleet_fuzz_link, a corpus in corpus/<name>/, and a
# -max_len in tests/fuzz/run.sh.
set(ORDERFLEET_FUZZ_TARGETS
  fuzz_order_codec
  fuzz_order_json
  fuzz_ndjson
  fuzz_config
  fuzz_headers
  fuzz_prefer
  fuzz_route)

# Gives executable target what fuzz target name needs to build.
function(orderfleet_fuzz_link target name)
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}
                             ${CMAKE_SOURCE_DIR}/tests/fuzz)
  if(name STREQUAL "fuzz_ndjson")
    # send's input side is part of order-producer, not of a library.
    target_sources(${target} PRIVATE ${CMAKE_SOURCE_DIR}/producer/ndjson.c)
  endif()
  if(name STREQUAL "fuzz_route")
    target_link_libraries(${target} PRIVATE orderfleet_gateway_core)
  endif()
  target_link_libraries(${target} PRIVATE orderfleet_worker_core orderfleet_common)
endfunction()
