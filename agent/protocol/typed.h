// The typed operations of ops.h on messages: a value becomes a body and an attachment, and
// back. Both sides use these; nothing else builds or reads a body by hand.
#pragma once

#include <concepts>
#include <string>
#include <utility>

#include "agent/protocol/message.h"
#include "agent/protocol/ops.h"

namespace zunvm::agent {

// Types whose `data` member is the message's binary attachment.
template <typename T>
concept WithAttachment = requires(T v) {
  { v.data } -> std::convertible_to<std::string>;
};

// The body (and attachment) of `v` on message `m`.
template <typename T>
void Put(Message& m, const T& v) {
  m.body = v.ToJson();
  if constexpr (WithAttachment<T>) m.data = v.data;
}

// The value of message `m` (its attachment moved out), or InvalidArgument naming the field.
template <typename T>
Result<T> Get(Message& m) {
  auto v = T::FromJson(m.body);
  if constexpr (WithAttachment<T>) {
    if (v) v->data = std::move(m.data);
  }
  return v;
}

}  // namespace zunvm::agent
