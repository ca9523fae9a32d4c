// Metrics in Prometheus' text exposition format (0.0.4), for GET /metrics (docs/operator.md).
// Counters and histograms are kept by the code that counts (a family per name, a series per
// label values); gauges of state that exists anyway (containers, processes, files) are read
// by collectors at scrape time. Names follow Prometheus' conventions: zunvm_ prefix, base
// units (seconds, bytes), _total for counters.
//
// Thread safety: everything is thread-safe. Families live as long as their Registry; a
// collector must be removed (the handle's Reset or destructor) before what it reads goes.
// Global() is the process's registry, which the product's code counts into.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace zunvm::metrics {

using Labels = std::vector<std::string>;  // values, in the family's label order

class CounterFamily {
 public:
  void Inc(const Labels& values, double by = 1);
  double Value(const Labels& values) const;  // 0 for a series never counted

 private:
  friend class Registry;
  CounterFamily(std::string name, std::string help, Labels names);
  void Render(std::string& out) const;
  const std::string name_, help_;
  const Labels label_names_;
  mutable std::mutex mu_;
  std::map<Labels, double> series_;
};

class HistogramFamily {
 public:
  void Observe(const Labels& values, double v);
  uint64_t Count(const Labels& values) const;

 private:
  friend class Registry;
  HistogramFamily(std::string name, std::string help, Labels names, std::vector<double> bounds);
  void Render(std::string& out) const;
  struct Series {
    std::vector<uint64_t> buckets;  // per upper bound, not cumulative; the last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  const std::string name_, help_;
  const Labels label_names_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<Labels, Series> series_;
};

// What collectors write at scrape time: one Gauge call per family, then its samples. One
// writer serves every collector of a scrape, so two collectors may write the same family (the
// same name, help and labels; say, one per sandbox driver): it is rendered once, its samples
// together, families in the order first written.
class GaugeWriter {
 public:
  void Gauge(const std::string& name, const std::string& help, const Labels& label_names);
  void Sample(const Labels& values, double v);

 private:
  friend class Registry;
  struct Family {
    std::string text;  // header and samples
    Labels label_names;
  };
  std::vector<std::string> order_;
  std::map<std::string, Family> families_;
  Family* current_ = nullptr;
  std::string name_;
};

class Registry;
// Removes its collector when reset or destroyed.
class CollectorHandle {
 public:
  CollectorHandle() = default;
  CollectorHandle(Registry* r, uint64_t id) : registry_(r), id_(id) {}
  CollectorHandle(CollectorHandle&& o) noexcept;
  CollectorHandle& operator=(CollectorHandle&& o) noexcept;
  ~CollectorHandle() { Reset(); }
  void Reset();

 private:
  Registry* registry_ = nullptr;
  uint64_t id_ = 0;
};

class Registry {
 public:
  // The same name again returns the same family (its help and labels must match).
  CounterFamily& Counter(const std::string& name, const std::string& help, const Labels& label_names);
  HistogramFamily& Histogram(const std::string& name, const std::string& help, const Labels& label_names,
                             const std::vector<double>& bounds);
  [[nodiscard]] CollectorHandle AddCollector(std::function<void(GaugeWriter&)> collect);
  void RemoveCollector(uint64_t id);
  // Every family and every collector's gauges, sorted by family name, collectors last.
  std::string Render() const;

 private:
  mutable std::mutex mu_;  // the families
  std::map<std::string, std::unique_ptr<CounterFamily>> counters_;
  std::map<std::string, std::unique_ptr<HistogramFamily>> histograms_;
  // Collectors run under collect_mu_, so removing one waits for a scrape that runs it.
  mutable std::mutex collect_mu_;
  std::map<uint64_t, std::function<void(GaugeWriter&)>> collectors_;
  uint64_t next_id_ = 1;
};

Registry& Global();

// Bounds for durations of container operations (0.05 s .. 5 min) and of API calls (1 ms .. 60 s).
const std::vector<double>& OperationSeconds();
const std::vector<double>& RequestSeconds();

// A label value or help text in the exposition format's escaping.
std::string EscapeLabel(const std::string& v);

}  // namespace zunvm::metrics
