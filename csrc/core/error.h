// Error hierarchy of the core. The binding maps each class to a Python exception:
// InvalidModel -> fastinfer.InvalidModel, InvalidArgument -> fastinfer.InvalidArgument,
// NotImplemented -> fastinfer.NotImplemented, RuntimeError -> fastinfer.RuntimeError.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fi {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
  virtual const char* kind() const { return "Error"; }
};
class InvalidModel : public Error {
 public:
  using Error::Error;
  const char* kind() const override { return "InvalidModel"; }
};
class InvalidArgument : public Error {
 public:
  using Error::Error;
  const char* kind() const override { return "InvalidArgument"; }
};
class NotImplemented : public Error {
 public:
  using Error::Error;
  const char* kind() const override { return "NotImplemented"; }
};
class RuntimeError : public Error {
 public:
  using Error::Error;
  const char* kind() const override { return "RuntimeError"; }
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from any streamable parts: str("axis ", a, " out of range").
template <class... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

// Rethrows `e` as the same class with `prefix` in front of its message.
[[noreturn]] void rethrow_with_prefix(const Error& e, const std::string& prefix);

}  // namespace fi

// FI_CHECK(cond, InvalidArgument, "axis ", axis, " out of range") throws fi::InvalidArgument.
#define FI_CHECK(cond, Kind, ...)                 \
  do {                                            \
    if (!(cond)) throw ::fi::Kind(::fi::str(__VA_ARGS__)); \
  } while (0)
