# SPDX-License-Identifier: MIT
# Warnings for every target; -Werror with FIEF_WERROR=ON (CI turns it on).
add_compile_options(-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                    -Wpointer-arith -Wformat=2 -Wvla)
if(FIEF_WERROR)
  add_compile_options(-Werror)
endif()
