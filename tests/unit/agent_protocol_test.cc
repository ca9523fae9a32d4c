#include <gtest/gtest.h>

#include "agent/protocol/frame.h"
#include "agent/protocol/message.h"
#include "agent/protocol/typed.h"

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
  for (const std::string& text : std::vector<std::string>{
           std::string("not json"),
           std::string("[]"),
           std::string(R"({"v":1,"kind":"req","id":1,"op":"x"})"),  // the old protocol
           std::string(R"({"v":2,"kind":"req","id":0,"op":"x"})"),
           std::string(R"({"v":2,"kind":"event","id":5,"op":"x"})"),
           std::string(R"({"v":2,"kind":"req","id":-1,"op":"x"})"),
           std::string(R"({"v":2,"kind":"req","id":1,"op":"Bad-Op"})"),
           std::string(R"({"v":2,"kind":"req","id":1,"op":"x","body":[]})"),
           std::string(R"({"v":2,"kind":"req","id":1,"op":"x","error":{"code":"x","message":"y"}})"),
           std::string(R"({"v":2,"kind":"nope","id":1,"op":"x"})"),
           std::string("{\"v\":2,\"kind\":\"req\",\"id\":1,\"op\":\"\xff\"}"),
           std::string(100000, '[') + std::string(100000, ']'),
       }) {
    auto m = ParseMessage("\x01" + text);
    EXPECT_FALSE(m) << text.substr(0, 80);
    if (!m) {
      EXPECT_EQ(m.error().code(), Code::kInvalidArgument);
    }
  }
  // The payload's layout byte and the attachment header are checked too.
  std::string ok = R"({"v":2,"kind":"req","id":1,"op":"x"})";
  EXPECT_TRUE(ParseMessage("\x01" + ok));
  for (const std::string& bad : std::vector<std::string>{
           std::string(), "\x03" + ok, ok, std::string("\x02\x00\x00", 3),
           std::string("\x02\x00\x00\xff\xff", 5) + ok,    // JSON length past the payload
           std::string("\x02\x00\x00\x00\x01", 5) + ok,    // too short to be JSON
       }) {
    EXPECT_FALSE(ParseMessage(bad)) << bad.substr(0, 16);
  }
}

TEST(Message, AttachmentsCarryAnyBytes) {
  std::string bytes("\x00\xff\xfe raw \n\x01", 10);
  bytes += std::string(300000, '\x80');  // not UTF-8, larger than a JSON string would like
  Message m = Message::Event("output", {{"exec_id", "e"}, {"stream", "stdout"}, {"seq", 1}});
  m.data = bytes;
  std::string payload = SerializeMessage(m);
  EXPECT_LT(payload.size(), bytes.size() + 200);  // raw: no base64
  auto back = ParseMessage(payload);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->data, bytes);
  EXPECT_EQ(back->body["exec_id"], "e");
  auto plain = ParseMessage(SerializeMessage(Message::Request(3, "ack", {{"seq", 1}})));
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->data.empty());
}

// Every operation's values survive the wire, attachments included.
template <typename T>
T RoundTrip(const T& v) {
  Message m = Message::Request(1, "x");
  Put(m, v);
  auto parsed = ParseMessage(SerializeMessage(m));
  EXPECT_TRUE(parsed);
  auto back = Get<T>(*parsed);
  EXPECT_TRUE(back) << back.error().ToString();
  return back ? *back : T{};
}

TEST(Ops, RoundTrip) {
  op::CreateContainer::Request c;
  c.id = "box";
  c.rootfs_disk = op::DiskRef{"rootfs", "ext4", true};
  c.upper_disk = op::DiskRef{"upper", "xfs", false};
  c.argv = {"sh", "-c", "echo hi"};
  c.env = {"A=b"};
  c.rlimits = {{"nofile", 1024}};
  c.memory_bytes = 64 << 20;
  c.cpus = 0.5;
  c.privileged = true;
  auto cb = RoundTrip(c);
  EXPECT_EQ(cb.id, "box");
  ASSERT_TRUE(cb.rootfs_disk && cb.upper_disk);
  EXPECT_TRUE(cb.rootfs_disk->readonly);
  EXPECT_EQ(cb.upper_disk->fstype, "xfs");
  EXPECT_EQ(cb.argv, c.argv);
  EXPECT_EQ(cb.rlimits.at("nofile"), 1024u);
  EXPECT_EQ(cb.memory_bytes, c.memory_bytes);
  EXPECT_EQ(cb.cpus, c.cpus);
  EXPECT_TRUE(cb.privileged);
  EXPECT_EQ(RoundTrip(op::WriteStdin::Request{"e", std::string("\x00\x01", 2)}).data, std::string("\x00\x01", 2));
  auto blob = RoundTrip(op::BlobGet::Response{9, true, "chunk"});
  EXPECT_EQ(blob.data, "chunk");
  EXPECT_TRUE(blob.eof);
  auto out = RoundTrip(op::OutputEvent{"e", 2, "boot-1", 42, "err bytes"});
  EXPECT_EQ(out.stream, 2);
  EXPECT_EQ(out.seq, 42u);
  EXPECT_EQ(out.data, "err bytes");
  auto exit = RoundTrip(op::ExitEvent{{"e", 137, 9}, 5});
  EXPECT_EQ(exit.status.exit_code, 137);
  EXPECT_EQ(exit.status.signal, 9);
  auto net = RoundTrip(op::ConfigureNetwork::Request{{{"52:54:00:00:00:01", "10.0.0.2/24", 1450}}, "10.0.0.1"});
  ASSERT_EQ(net.nics.size(), 1u);
  EXPECT_EQ(net.nics[0].mtu, 1450);
  auto copy = RoundTrip(op::CopyOut::Response{10, {"f", 10, 0100644, 1700000000, ""}});
  EXPECT_EQ(copy.stat.mode, 0100644u);
  auto ps = RoundTrip(op::Processes::Response{{"PID", "CMD"}, {{"1", "sleep"}}, {{"box", 7}}});
  EXPECT_EQ(ps.processes[0][1], "sleep");
  EXPECT_EQ(ps.execs.at("box"), 7);
}

// Hostile bodies are refused naming the operation and the field.
TEST(Ops, RefuseHostileBodies) {
  using nlohmann::json;
  auto refused = [](auto parsed, const std::string& field) {
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code(), Code::kInvalidArgument);
    EXPECT_NE(parsed.error().message().find(field), std::string::npos) << parsed.error().message();
  };
  refused(op::Exec::Request::FromJson({{"exec_id", "e"}, {"argv", {1, 2}}}), "argv");
  refused(op::Exec::Request::FromJson({{"exec_id", "e"}, {"argv", json::array()}}), "argv");
  refused(op::Exec::Request::FromJson({{"exec_id", std::string(65, 'x')}, {"argv", {"a"}}}), "exec_id");
  refused(op::Exec::Request::FromJson({{"exec_id", "e"}, {"argv", {std::string("a\0b", 3)}}}), "argv");
  refused(op::Signal::Request::FromJson({{"exec_id", "e"}, {"signal", 0}}), "signal");
  refused(op::Signal::Request::FromJson({{"exec_id", "e"}, {"signal", "KILL"}}), "signal");
  refused(op::CreateContainer::Request::FromJson({{"id", "c"}, {"argv", {"sh"}}}), "rootfs");
  refused(op::CreateContainer::Request::FromJson(
              {{"id", "c"}, {"rootfs", "/r"}, {"argv", {"sh"}}, {"memory_bytes", 1024}}),
          "memory_bytes");
  refused(op::CreateContainer::Request::FromJson(
              {{"id", "c"}, {"rootfs_disk", {{"serial", "r"}, {"fstype", "vfat"}}}, {"argv", {"sh"}}}),
          "fstype");
  refused(op::CreateContainer::Request::FromJson(
              {{"id", "c"}, {"rootfs", "/r"}, {"argv", {"sh"}}, {"rlimits", {{"nofile", -1}}}}),
          "rlimits");
  json nics = json::array();
  for (int i = 0; i < 17; ++i) nics.push_back({{"mac", "52:54:00:00:00:01"}, {"cidr", "10.0.0.2/24"}});
  refused(op::ConfigureNetwork::Request::FromJson({{"nics", nics}}), "nics");
  refused(op::ConfigureNetwork::Request::FromJson({{"nics", {{{"mac", "m"}, {"cidr", "c"}, {"mtu", 10}}}}}), "mtu");
  refused(op::OutputEvent::FromJson({{"exec_id", "e"}, {"stream", "stdin"}}), "stream");
  refused(op::ExitEvent::FromJson({{"exec_id", "e"}, {"exit_code", 300}}), "exit_code");
  refused(op::Freeze::Request::FromJson({{"id", "c"}}), "frozen");
  std::string hex64(64, 'a');
  refused(op::Identity::Request::FromJson({{"entropy", "abc"}, {"realtime_ns", 1}, {"boot_id", "b"}}), "entropy");
  refused(op::Identity::Request::FromJson({{"entropy", std::string(63, 'a') + "z"}, {"realtime_ns", 1}, {"boot_id", "b"}}),
          "entropy");
  refused(op::Identity::Request::FromJson({{"entropy", hex64}, {"realtime_ns", -5}, {"boot_id", "b"}}), "realtime_ns");
  refused(op::Identity::Request::FromJson({{"entropy", hex64}, {"realtime_ns", 1}, {"boot_id", ""}}), "boot_id");
  refused(op::Identity::Request::FromJson({{"entropy", std::string(1026, 'a')}, {"realtime_ns", 1}, {"boot_id", "b"}}),
          "entropy");
  auto ok = op::Identity::Request::FromJson(op::Identity::Request{hex64, 42, "boot"}.ToJson());
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->realtime_ns, 42);
  EXPECT_EQ(ok->boot_id, "boot");
  refused(op::Hello::Response::FromJson({{"version", "2"}}), "version");
}

TEST(Message, UnknownWireCodeIsInternal) {
  EXPECT_EQ(CodeFromWire("Whatever"), Code::kInternal);
  EXPECT_EQ(CodeFromWire(WireCode(Code::kDeadlineExceeded)), Code::kDeadlineExceeded);
}

}  // namespace
}  // namespace zunvm::agent
