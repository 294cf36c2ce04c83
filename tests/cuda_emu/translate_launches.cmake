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
# Every shared array is announced to the scheduler where it is declared, which it fills with 0xFF
# bytes before each block, and its name becomes a view that checks each access for races and
# bounds (emu_runtime.cpp):   __shared__ T name[dims];   becomes
#   static T name_kn_emu[dims]; ::kn_emu::use_shared(name_kn_emu, sizeof name_kn_emu);
#   const auto name = ::kn_emu::shared_view(name_kn_emu);
# One array per declaration: `__shared__ float a[4], b[4];` is left alone and stops the build.
string(REGEX REPLACE
  "__shared__[ \t]+([A-Za-z_][A-Za-z0-9_:]*)[ \t]+([A-Za-z_][A-Za-z0-9_]*)((\\[[^];,]*\\])+)[ \t]*;"
  "static \\1 \\2_kn_emu\\3; ::kn_emu::use_shared(\\2_kn_emu, sizeof \\2_kn_emu); const auto \\2 = ::kn_emu::shared_view(\\2_kn_emu);"
  text "${text}")
if(text MATCHES "__shared__")
  message(FATAL_ERROR "${IN}: a __shared__ declaration the emulator's translation does not understand")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${text}")
configure_file("${OUT}.tmp" "${OUT}" COPYONLY)
file(REMOVE "${OUT}.tmp")
