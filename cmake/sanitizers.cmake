# SPDX-License-Identifier: MIT
# ASan + UBSan build (FIEF_SANITIZE=ON): any finding aborts the test that hit it.
if(FIEF_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Fuzz build: instrument every library for coverage; the fuzz_* executables
# add the libFuzzer driver themselves (tests/fuzz/CMakeLists.txt).
if(FIEF_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
