// Errors are exceptions that carry the file and line where they were raised.
// KN_CHECK guards invariants and user input alike: the message must name the thing that was
// wrong and what was expected, because it is what the user reads.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace knotnet {

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, const char* file, int line)
      : std::runtime_error(what), file_(file), line_(line) {}
  const char* file() const { return file_; }
  int line() const { return line_; }
  // "message (file:line)", for logs.
  std::string located() const;

 private:
  const char* file_;
  int line_;
};

// A cuDNN convolution that needs more workspace than the memory plan allows, at the planned
// batch or at a smaller one: the caller may put the layer on the implicit GEMM instead.
class NoCudnnAlgorithm : public Error {
 public:
  using Error::Error;
};

namespace detail {
// Builds a message from any streamable pieces.
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace knotnet

#define KN_THROW(...) throw ::knotnet::Error(::knotnet::detail::concat(__VA_ARGS__), __FILE__, __LINE__)

#define KN_CHECK(cond, ...)          \
  do {                               \
    if (!(cond)) KN_THROW(__VA_ARGS__); \
  } while (0)
