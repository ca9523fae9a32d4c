// The console: the websocket wire format (rest/ws_frame.h), tickets and exec instances
// (service/console_service.h) through the API with the fake driver.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "rest/ws_frame.h"
#include "service/console_service.h"
#include "tests/unit/api_fixture.h"

namespace zunvm {
namespace {

// A client frame: masked, as RFC 6455 requires of clients.
std::string ClientFrame(int opcode, const std::string& payload, bool fin = true, bool masked = true) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  uint64_t n = payload.size();
  char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (n < 126) {
    f.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xffff) {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    f.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  }
  return f;
}

TEST(WsFrame, DecodesMaskedMessagesFedByteByByte) {
  ws::Decoder d(1 << 20);
  std::string wire = ClientFrame(2, "hello") + ClientFrame(1, std::string(300, 'x')) +
                     ClientFrame(2, std::string(70000, 'y'));
  std::vector<ws::Message> got;
  for (char c : wire) {
    d.Feed(std::string_view(&c, 1));
    auto m = d.Next();
    ASSERT_TRUE(m.has_value()) << m.error().ToString();
    if (*m) got.push_back(**m);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].op, ws::Opcode::kBinary);
  EXPECT_EQ(got[0].payload, "hello");
  EXPECT_EQ(got[1].op, ws::Opcode::kText);
  EXPECT_EQ(got[1].payload.size(), 300u);
  EXPECT_EQ(got[2].payload, std::string(70000, 'y'));
}

TEST(WsFrame, JoinsFragmentsAndLetsControlFramesThrough) {
  ws::Decoder d(1 << 20);
  d.Feed(ClientFrame(1, "ab", false) + ClientFrame(9, "p") + ClientFrame(0, "cd", false) + ClientFrame(0, "e"));
  auto ping = d.Next();
  ASSERT_TRUE(ping && *ping);
  EXPECT_EQ((*ping)->op, ws::Opcode::kPing);
  auto msg = d.Next();
  ASSERT_TRUE(msg && *msg);
  EXPECT_EQ((*msg)->op, ws::Opcode::kText);
  EXPECT_EQ((*msg)->payload, "abcde");
}

TEST(WsFrame, TextFramesNeedNotBeUtf8) {
  // Zun's proxy sends keystrokes as text frames of whatever bytes the terminal produced.
  ws::Decoder d(1 << 20);
  d.Feed(ClientFrame(1, "\xff\xfe\x03"));
  auto m = d.Next();
  ASSERT_TRUE(m && *m);
  EXPECT_EQ((*m)->payload, "\xff\xfe\x03");
}

TEST(WsFrame, RefusesProtocolViolations) {
  struct Case {
    const char* name;
    std::string wire;
    Code code;
  };
  std::vector<Case> cases = {
      {"unmasked", ClientFrame(2, "x", true, false), Code::kInvalidArgument},
      {"reserved bits", std::string("\xc2\x80\0\0\0\0", 6), Code::kInvalidArgument},
      {"unknown opcode", ClientFrame(3, "x"), Code::kInvalidArgument},
      {"fragmented ping", ClientFrame(9, "x", false), Code::kInvalidArgument},
      {"long ping", ClientFrame(9, std::string(126, 'p')), Code::kInvalidArgument},
      {"stray continuation", ClientFrame(0, "x"), Code::kInvalidArgument},
      {"message inside a message", ClientFrame(2, "a", false) + ClientFrame(2, "b"), Code::kInvalidArgument},
      {"too big", ClientFrame(2, std::string(2000, 'z')), Code::kPayloadTooLarge},
      {"too big in fragments", ClientFrame(2, std::string(600, 'z'), false) + ClientFrame(0, std::string(600, 'z')),
       Code::kPayloadTooLarge},
  };
  for (const auto& c : cases) {
    ws::Decoder d(1024);
    d.Feed(c.wire);
    Result<std::optional<ws::Message>> m = d.Next();
    while (m && *m) m = d.Next();
    ASSERT_FALSE(m.has_value()) << c.name;
    EXPECT_EQ(m.error().code(), c.code) << c.name;
  }
}

TEST(WsFrame, TooBigIsRefusedFromItsHeaderAlone) {
  // A client announcing 2^62 bytes is refused before anything is buffered.
  ws::Decoder d(1 << 20);
  std::string hdr = "\x82\xff";
  hdr += std::string("\x40\0\0\0\0\0\0\0", 8);
  d.Feed(hdr);
  auto m = d.Next();
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code(), Code::kPayloadTooLarge);
  EXPECT_LT(d.Buffered(), 20u);
}

TEST(WsFrame, EncodesServerFramesAndTheAcceptKey) {
  EXPECT_EQ(ws::EncodeFrame(ws::Opcode::kBinary, "hi"), std::string("\x82\x02hi", 4));
  std::string mid = ws::EncodeFrame(ws::Opcode::kBinary, std::string(300, 'a'));
  EXPECT_EQ(mid.substr(0, 4), std::string("\x82\x7e\x01\x2c", 4));
  std::string big = ws::EncodeFrame(ws::Opcode::kBinary, std::string(70000, 'a'));
  EXPECT_EQ(big.size(), 70000u + 10);
  std::string close = ws::EncodeClose(1000, std::string(300, 'r'));
  EXPECT_EQ(static_cast<unsigned char>(close[1]), 125);  // a control frame's limit
  // RFC 6455 §1.3's example.
  EXPECT_EQ(ws::AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Utf8Chunker, NeverSplitsASequenceAndReplacesWhatCannotBeUtf8) {
  ws::Utf8Chunker c;
  std::string euro = "\xe2\x82\xac";
  EXPECT_EQ(c.Take("a" + euro.substr(0, 1)), "a");
  EXPECT_EQ(c.Take(euro.substr(1, 1)), "");
  EXPECT_EQ(c.Take(euro.substr(2) + "b"), euro + "b");
  EXPECT_EQ(c.Take("\xff" "c"), "\xef\xbf\xbd" "c");
  EXPECT_EQ(c.Take("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // a surrogate
  EXPECT_EQ(c.Take("\xf0\x9f"), "");
  EXPECT_EQ(c.Flush(), "\xef\xbf\xbd");
  EXPECT_EQ(c.Take("ok"), "ok");
}

// ---- tickets and exec instances ---------------------------------------------------------------

class ConsoleApiTest : public testing_util::ApiTest {
 protected:
  std::string Interactive() {
    std::string id = Run(R"({"image":"busybox","command":["sleep","1000"],"interactive":true,"tty":true})");
    for (int i = 0; i < 500 && StatusOf(id) != "Running"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(StatusOf(id), "Running");
    return id;
  }
  static std::string Query(const std::string& url, const std::string& key) {
    auto p = url.find(key + "=");
    if (p == std::string::npos) return "";
    auto e = url.find('&', p);
    return url.substr(p + key.size() + 1, e == std::string::npos ? std::string::npos : e - p - key.size() - 1);
  }
};

// Collects what a console's process sends.
struct Collector : ProcessSink {
  std::mutex mu;
  std::condition_variable cv;
  std::string out;
  std::optional<std::optional<int>> closed;
  void OnOutput(const std::string& d) override {
    std::lock_guard<std::mutex> l(mu);
    out += d;
    cv.notify_all();
  }
  void OnClosed(std::optional<int> code) override {
    std::lock_guard<std::mutex> l(mu);
    closed = code;
    cv.notify_all();
  }
  bool WaitFor(const std::function<bool()>& pred) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(5), pred);
  }
};

TEST_F(ConsoleApiTest, AttachAnswersAWebsocketUrlWithASingleUseTicket) {
  std::string id = Interactive();
  auto r = Call("GET", "/v1/containers/" + id + "/attach");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string url = Body(r).get<std::string>();
  EXPECT_EQ(url.rfind(daemon_->ConsoleUrl() + "/v1/console/containers/" + id + "/attach?ticket=", 0), 0u) << url;
  std::string ticket = Query(url, "ticket");
  ASSERT_EQ(ticket.size(), 64u);
  auto* consoles = daemon_->consoles();
  // At another container's door: refused, and still good at its own.
  auto wrong = consoles->Redeem(ticket, ConsoleTarget{"other", "", false});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), Code::kForbidden);
  auto t = consoles->Redeem(ticket, ConsoleTarget{id, "", false});
  ASSERT_TRUE(t.has_value()) << t.error().ToString();
  EXPECT_TRUE(t->tty);
  auto again = consoles->Redeem(ticket, ConsoleTarget{id, "", false});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), Code::kUnauthorized);
  // The session: stdin reaches the main process (the fake echoes it to its watchers).
  auto sink = std::make_shared<Collector>();
  auto s = consoles->Open(*t, sink);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  ASSERT_TRUE((*s)->Write("ping\r").ok());
  EXPECT_TRUE(sink->WaitFor([&] { return sink->out.find("ping") != std::string::npos; }));
  // Stopping the container ends the console.
  ASSERT_EQ(Call("POST", "/v1/containers/" + id + "/stop").status, 202);
  EXPECT_TRUE(sink->WaitFor([&] { return sink->closed.has_value(); }));
}

TEST_F(ConsoleApiTest, AttachNeedsAnInteractiveRunningContainer) {
  std::string plain = Run(R"({"image":"busybox","command":["sleep","1000"]})");
  for (int i = 0; i < 500 && StatusOf(plain) != "Running"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto r = Call("GET", "/v1/containers/" + plain + "/attach");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("interactive"), std::string::npos);
  ASSERT_EQ(Call("POST", "/v1/containers/" + plain + "/stop").status, 202);
  for (int i = 0; i < 500 && StatusOf(plain) != "Stopped"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(Call("GET", "/v1/containers/" + plain + "/attach").status, 409);
}

TEST_F(ConsoleApiTest, InteractiveExecIsAnInstanceStartedOnceAndResizable) {
  std::string id = Interactive();
  auto r = Call("POST", "/v1/containers/" + id + "/execute?command=%22sh%22&interactive=True&run=False");
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = Body(r);
  EXPECT_TRUE(b["output"].is_null());
  EXPECT_TRUE(b["exit_code"].is_null());
  std::string exec_id = b["exec_id"].get<std::string>();
  ASSERT_EQ(exec_id.size(), 64u);
  EXPECT_EQ(exec_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  std::string url = b["proxy_url"].get<std::string>();
  EXPECT_NE(url.find("/v1/console/containers/" + id + "/exec/" + exec_id + "?ticket="), std::string::npos) << url;
  // Resized before it starts: the size applies at its start.
  EXPECT_EQ(Call("POST", "/v1/containers/" + id + "/execute_resize?exec_id=" + exec_id + "&w=91&h=33").status, 200);
  EXPECT_EQ(Call("POST", "/v1/containers/" + id + "/execute_resize?exec_id=" + std::string(64, 'a') + "&w=9&h=3").status, 400);
  EXPECT_EQ(Call("POST", "/v1/containers/" + id + "/execute_resize?exec_id=" + exec_id + "&w=0&h=3").status, 400);
  auto* consoles = daemon_->consoles();
  auto t = consoles->Redeem(Query(url, "ticket"), ConsoleTarget{id, exec_id, true});
  ASSERT_TRUE(t.has_value()) << t.error().ToString();
  // Docker's exec start cannot take it a second time.
  EXPECT_FALSE(consoles->RedeemExecId(exec_id).has_value());
  auto sink = std::make_shared<Collector>();
  auto s = consoles->Open(*t, sink);
  ASSERT_TRUE(s.has_value()) << s.error().ToString();
  ASSERT_TRUE((*s)->Write("stty size\r").ok());
  EXPECT_TRUE(sink->WaitFor([&] { return sink->out.find("33 91") != std::string::npos; })) << sink->out;
  EXPECT_EQ(Call("POST", "/v1/containers/" + id + "/execute_resize?exec_id=" + exec_id + "&w=100&h=40").status, 200);
  ASSERT_TRUE((*s)->Write("stty size\r").ok());
  EXPECT_TRUE(sink->WaitFor([&] { return sink->out.find("40 100") != std::string::npos; })) << sink->out;
  ASSERT_TRUE((*s)->Write("exit 3\r").ok());
  EXPECT_TRUE(sink->WaitFor([&] { return sink->closed.has_value(); }));
  EXPECT_EQ(*sink->closed, std::optional<int>(3));
}

TEST_F(ConsoleApiTest, TicketsAndUnstartedExecsExpire) {
  std::string id = Interactive();
  auto now = std::chrono::steady_clock::now();
  ConsoleService consoles(daemon_->containers(), daemon_->driver(), ConsoleOptions{std::chrono::seconds(30)},
                          [&] { return now; });
  RequestContext ctx;
  ctx.all_projects = true;
  auto g = consoles.AttachTicket(ctx, id);
  ASSERT_TRUE(g.has_value()) << g.error().ToString();
  auto e = consoles.CreateExec(ctx, id, {"sh"});
  ASSERT_TRUE(e.has_value());
  now += std::chrono::seconds(31);
  auto r = consoles.Redeem(g->ticket, ConsoleTarget{id, "", false});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kUnauthorized);
  EXPECT_FALSE(consoles.RedeemExecId(e->exec_id).has_value());
  EXPECT_FALSE(consoles.Redeem(e->ticket, ConsoleTarget{id, e->exec_id, true}).has_value());
}

TEST_F(ConsoleApiTest, PendingTicketsAreBounded) {
  std::string id = Interactive();
  ConsoleOptions opts;
  opts.max_pending = 8;
  ConsoleService consoles(daemon_->containers(), daemon_->driver(), opts);
  RequestContext ctx;
  ctx.all_projects = true;
  std::vector<std::string> tickets;
  for (int i = 0; i < 20; ++i) tickets.push_back(consoles.AttachTicket(ctx, id)->ticket);
  // The oldest went first; the newest still work.
  EXPECT_FALSE(consoles.Redeem(tickets.front(), ConsoleTarget{id, "", false}).has_value());
  EXPECT_TRUE(consoles.Redeem(tickets.back(), ConsoleTarget{id, "", false}).has_value());
}

}  // namespace
}  // namespace zunvm
