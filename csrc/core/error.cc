#include "core/error.h"

namespace fi {

void rethrow_with_prefix(const Error& e, const std::string& prefix) {
  std::string msg = prefix + e.what();
  if (dynamic_cast<const InvalidModel*>(&e)) throw InvalidModel(msg);
  if (dynamic_cast<const InvalidArgument*>(&e)) throw InvalidArgument(msg);
  if (dynamic_cast<const NotImplemented*>(&e)) throw NotImplemented(msg);
  if (dynamic_cast<const RuntimeError*>(&e)) throw RuntimeError(msg);
  throw Error(msg);
}

}  // namespace fi
