// The floor for the API benchmark (bench/api_bench.sh): a bare cpprestsdk http_listener that
// answers every GET with 200 and every other method with 202, always with the same ~0.9 KB JSON
// body (one container object as zunvmd renders it), on the same cpprestsdk thread-pool size as
// zunvmd's default ([api] threads = 4). Request bodies are read and dropped.
//
// usage: fixed_listener PORT [THREADS]   (listens on 127.0.0.1 only; prints "listening ..."
//        once ready; SIGINT/SIGTERM close the listener and exit 0)
#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>

namespace {

// A container object as zunvmd answers GET /v1/containers/{uuid} at 1.40 (919 bytes there).
const char* const kBody =
    R"({"addresses":{},"auto_heal":false,"auto_remove":false,"command":["sleep","inf"],)"
    R"("cpu":1.0,"cpu_policy":null,"created_at":"2026-11-28 08:39:12+00:00","disk":10,)"
    R"("entrypoint":null,"environment":{},"healthcheck":{},"host":"vm","hostname":"cd7b9d9878f8",)"
    R"("image":"busybox","image_driver":"docker","image_pull_policy":null,"interactive":false,)"
    R"("labels":{},"links":[{"href":"http://127.0.0.1:9517/v1/containers/)"
    R"(cd7b9d98-78f8-4cac-8a6f-26f17216be13","rel":"self"},{"href":"http://127.0.0.1:9517/)"
    R"(containers/cd7b9d98-78f8-4cac-8a6f-26f17216be13","rel":"bookmark"}],"memory":"512",)"
    R"("name":"tau-15-container","ports":[],"privileged":false,"project_id":"zunvm",)"
    R"("registry_id":null,"restart_policy":{},"runtime":"kata","security_groups":[],)"
    R"("status":"Running","status_detail":"Up 3 seconds","status_reason":null,"task_state":null,)"
    R"("tty":false,"updated_at":null,"user_id":"zunvm",)"
    R"("uuid":"cd7b9d98-78f8-4cac-8a6f-26f17216be13","workdir":null})";

bool ParseInt(const char* s, int lo, int hi, int& out) {
  try {
    size_t used = 0;
    std::string str(s);
    int v = std::stoi(str, &used);
    if (used != str.size() || v < lo || v > hi) return false;
    out = v;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int threads = 4;
  if (argc < 2 || argc > 3 || !ParseInt(argv[1], 1, 65535, port) ||
      (argc == 3 && !ParseInt(argv[2], 1, 256, threads))) {
    std::fprintf(stderr, "usage: fixed_listener PORT [THREADS]  (PORT 1-65535, THREADS 1-256, "
                         "default 4)\n");
    return 2;
  }
  // Must run before anything touches the cpprestsdk thread pool.
  crossplat::threadpool::initialize_with_threads(static_cast<size_t>(threads));

  // Signals are taken synchronously by the main thread; block them before threads start.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // as zunvmd does

  // FIXED_LISTENER_ITEMS=N: answer GETs with a list of N copies of the object instead, the size
  // of zunvmd's answer to a list of N containers.
  std::string body(kBody);
  if (const char* n = std::getenv("FIXED_LISTENER_ITEMS"); n != nullptr) {
    int items = 0;
    if (!ParseInt(n, 1, 100000, items)) return 2;
    std::string list = "{\"containers\":[";
    for (int i = 0; i < items; ++i) list += (i > 0 ? "," : "") + body;
    body = list + "],\"next\":null}";
  }
  web::http::experimental::listener::http_listener listener("http://127.0.0.1:" +
                                                            std::to_string(port));
  listener.support([&body](web::http::http_request req) {
    auto code = req.method() == web::http::methods::GET ? web::http::status_codes::OK
                                                        : web::http::status_codes::Accepted;
    // Drain the request body (as a real handler would) before answering.
    req.extract_vector().then([req, code, &body](pplx::task<std::vector<unsigned char>> t) {
      try {
        t.get();
      } catch (const std::exception&) {
      }
      web::http::http_response resp(code);
      resp.set_body(body, "application/json");
      req.reply(resp).then([](pplx::task<void> r) {
        try {
          r.get();
        } catch (const std::exception&) {  // client went away
        }
      });
    });
  });
  try {
    listener.open().wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fixed_listener: cannot listen on 127.0.0.1:%d: %s\n", port, e.what());
    return 1;
  }
  std::printf("listening on http://127.0.0.1:%d (%d threads, %zu byte body)\n", port, threads,
              body.size());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&set, &sig);
  try {
    listener.close().wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fixed_listener: close: %s\n", e.what());
  }
  return 0;
}
