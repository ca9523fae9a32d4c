// libFuzzer target: arbitrary bytes from the peer go through the frame decoder (fed in two
// pieces to exercise partial frames), every complete frame through the message parser, and
// every message body through the typed parsing of every operation and event (what both the
// host and the guest do with what they receive). Nothing may crash, hang or leak; errors are
// values.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/protocol/frame.h"
#include "agent/protocol/message.h"
#include "agent/protocol/typed.h"

namespace {

using namespace zunvm::agent;

template <typename... T>
void ParseAll(Message m) {
  ((void)Get<T>(m), ...);
}

void Typed(const Message& m) {
  ParseAll<op::Hello::Request, op::Hello::Response, op::Ack::Request, op::CreateContainer::Request,
           op::CreateContainer::Response, op::StartContainer::Request, op::Exec::Request, op::ExitStatus,
           op::Wait::Request, op::Signal::Request, op::WriteStdin::Request, op::ResizeTty::Request,
           op::Processes::Response, op::Stats::Response, op::Update::Request, op::Freeze::Request, op::Identity::Request,
           op::BlobPut::Request, op::BlobPut::Response, op::BlobGet::Request, op::BlobGet::Response,
           op::BlobDrop::Request, op::CopyOut::Request, op::CopyOut::Response, op::ConfigureNetwork::Request,
           op::ConfigureNetwork::Response, op::GuestDetails::Response, op::OutputEvent, op::ExitEvent,
           op::OomEvent>(m);
}

void One(std::string_view payload) {
  auto m = ParseMessage(payload);
  if (!m) return;
  (void)SerializeMessage(*m);
  Typed(*m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  size_t cut = size ? data[0] % (size + 1) : 0;
  FrameDecoder d;
  One(all);  // the same bytes as a single payload too
  for (std::string_view part : {all.substr(0, cut), all.substr(cut)}) {
    d.Feed(part);
    for (int i = 0; i < 64; ++i) {
      auto f = d.Next();
      if (!f || !*f) break;
      One(**f);
    }
  }
  return 0;
}
