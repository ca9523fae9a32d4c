// Zun's exception names for the stores' plain errors. db/ knows rows ("Container x could not
// be found.", NotFound); the service knows what they are to Zun ("ContainerNotFound", the
// `container.container-not-found` code of the error envelope) and names them here.
#pragma once

#include "common/status.h"

namespace zunvm {

// `st` with Zun's name `kind` when its code is `code`; any other status unchanged.
inline Status Named(Status st, Code code, const char* kind) {
  if (st.code() != code) return st;
  return Status(code, st.message(), kind);
}

template <typename T>
Result<T> Named(Result<T> r, Code code, const char* kind) {
  if (r) return r;
  return Err(Named(r.error(), code, kind));
}

}  // namespace zunvm
