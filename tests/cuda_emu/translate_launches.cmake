# Rewrites one CUDA source for the emulator (tests/cuda_emu/README.md): every launch
#   kernel<<<config>>>(args)   becomes   ::kn_emu::launch(config, [](auto&&... a) { kernel(a...); })(args)
# on the same line, so compiler and sanitizer messages keep the original line numbers (a #line
# directive names the original file). The kernel may be qualified and carry template arguments
# (bn::apply_kernel<true>); the generic lambda lets a kernel template deduce its arguments as at a
# real launch. Called as: cmake -DIN=<file.cu> -DOUT=<file.cpp> -P translate_launches.cmake
file(READ "${IN}" text)
string(REGEX REPLACE
  "([A-Za-z_][A-Za-z0-9_:]*(<[^<>;]*>)?)<<<([^>]*)>>>"
  "::kn_emu::launch(\\3, [](auto&&... kn_emu_a) { \\1(kn_emu_a...); })"
  text "${text}")
if(text MATCHES "<<<")
  message(FATAL_ERROR "${IN}: a kernel launch the emulator's translation does not understand")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${text}")
configure_file("${OUT}.tmp" "${OUT}" COPYONLY)
file(REMOVE "${OUT}.tmp")
