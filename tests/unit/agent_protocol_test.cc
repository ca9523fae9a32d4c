#include <gtest/gtest.h>

#include "agent/protocol/frame.h"
#include "agent/protocol/message.h"

namespace zunvm::agent {
namespace {

TEST(Frame, RoundTripAcrossArbitraryChunks) {
  std::string stream;
  for (const std::string& p : std::vector<std::string>{"{\"a\":1}", "x", std::string(70000, 'z')}) {
    stream += *EncodeFrame(p);
  }
  FrameDecoder d;
  std::vector<std::string> got;
  for (size_t i = 0; i < stream.size(); i += 4093) {  // virtio reads come in odd sizes
    d.Feed(std::string_view(stream).substr(i, 4093));
    for (;;) {
      auto f = d.Next();
      ASSERT_TRUE(f);
      if (!*f) break;
      got.push_back(**f);
    }
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1], "x");
  EXPECT_EQ(got[2].size(), 70000u);
  EXPECT_EQ(d.Buffered(), 0u);
}

TEST(Frame, RefusesOversizedAndEmptyFrames) {
  EXPECT_FALSE(EncodeFrame(std::string(kMaxFrameBytes + 1, 'a')));
  EXPECT_FALSE(EncodeFrame(""));
  FrameDecoder d;
  d.Feed(std::string("\x7f\xff\xff\xff", 4));
  EXPECT_FALSE(d.Next());
  EXPECT_FALSE(d.Next());  // stays failed: the stream cannot be trusted any more
  FrameDecoder z;
  z.Feed(std::string("\0\0\0\0", 4));
  EXPECT_FALSE(z.Next());
}

TEST(Message, RoundTrip) {
  Message req = Message::Request(7, "exec", {{"argv", {"echo", "hi"}}});
  auto back = ParseMessage(SerializeMessage(req));
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->id, 7u);
  EXPECT_EQ(back->op, "exec");
  EXPECT_EQ(back->body["argv"][1], "hi");
  Message fail = Message::Failure(req, Status::NotFound("no such process"));
  auto f = ParseMessage(SerializeMessage(fail));
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->error);
  EXPECT_EQ(f->error->code(), Code::kNotFound);
  EXPECT_EQ(f->error->message(), "no such process");
  auto ev = ParseMessage(SerializeMessage(Message::Event("exit", {{"code", 3}})));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, Kind::kEvent);
}

TEST(Message, RejectsHostileInput) {
  for (const std::string& bad : std::vector<std::string>{
           std::string("not json"),
           std::string("[]"),
           std::string(R"({"v":2,"kind":"req","id":1,"op":"x"})"),
           std::string(R"({"v":1,"kind":"req","id":0,"op":"x"})"),
           std::string(R"({"v":1,"kind":"event","id":5,"op":"x"})"),
           std::string(R"({"v":1,"kind":"req","id":-1,"op":"x"})"),
           std::string(R"({"v":1,"kind":"req","id":1,"op":"Bad-Op"})"),
           std::string(R"({"v":1,"kind":"req","id":1,"op":"x","body":[]})"),
           std::string(R"({"v":1,"kind":"req","id":1,"op":"x","error":{"code":"x","message":"y"}})"),
           std::string(R"({"v":1,"kind":"nope","id":1,"op":"x"})"),
           std::string("{\"v\":1,\"kind\":\"req\",\"id\":1,\"op\":\"\xff\"}"),
           std::string(100000, '[') + std::string(100000, ']'),
       }) {
    auto m = ParseMessage(bad);
    EXPECT_FALSE(m) << bad.substr(0, 80);
    if (!m) {
      EXPECT_EQ(m.error().code(), Code::kInvalidArgument);
    }
  }
}

TEST(Message, UnknownWireCodeIsInternal) {
  EXPECT_EQ(CodeFromWire("Whatever"), Code::kInternal);
  EXPECT_EQ(CodeFromWire(WireCode(Code::kDeadlineExceeded)), Code::kDeadlineExceeded);
}

}  // namespace
}  // namespace zunvm::agent
