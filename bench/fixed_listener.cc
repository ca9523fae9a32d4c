// The floor for the API benchmark: a bare cpprestsdk listener answering a fixed ~1 KB JSON
// body (GET 200, POST 202), with the same thread-pool size as zunvmd's default.
// usage: fixed_listener PORT [THREADS]
#include <csignal>
#include <cstdio>
#include <string>

#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fixed_listener PORT [THREADS]\n");
    return 2;
  }
  int threads = argc > 2 ? std::stoi(argv[2]) : 4;
  crossplat::threadpool::initialize_with_threads(static_cast<size_t>(threads));
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::string body = R"({"uuid": "05874f3a-b8ef-4450-9a14-20c8cdbaf252", "name": "x", "image": "busybox", )"
                     R"("command": ["sleep", "100"], "status": "Running", "status_reason": null, )"
                     R"("status_detail": "Up 3 seconds", "task_state": null, "cpu": 1.0, "memory": "512", )";
  while (body.size() < 1000) body += R"("pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", )";
  body += R"("end": true})";
  web::http::experimental::listener::http_listener listener("http://127.0.0.1:" +
                                                            std::string(argv[1]));
  listener.support([&body](web::http::http_request req) {
    auto code = req.method() == web::http::methods::POST ? web::http::status_codes::Accepted
                                                         : web::http::status_codes::OK;
    req.extract_vector().then([req, code, &body](pplx::task<std::vector<unsigned char>> t) {
      try {
        t.get();
      } catch (...) {
      }
      web::http::http_response resp(code);
      resp.set_body(body, "application/json");
      req.reply(resp).then([](pplx::task<void> r) {
        try {
          r.get();
        } catch (...) {
        }
      });
    });
  });
  listener.open().wait();
  std::printf("listening on 127.0.0.1:%s\n", argv[1]);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  listener.close().wait();
  return 0;
}
