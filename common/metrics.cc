#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace zunvm::metrics {

namespace {

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string EscapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// {a="x",b="y"}, with `extra` (e.g. le="0.5") last; empty when there are no labels.
std::string LabelText(const Labels& names, const Labels& values, const std::string& extra = {}) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    out += (out.empty() ? "" : ",") + names[i] + "=\"" + EscapeLabel(values[i]) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

void Header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + EscapeHelp(help) + "\n# TYPE " + name + " " + type + "\n";
}

// A series' label values, cut or padded to the family's labels, so a caller's mistake can
// never make the text unparsable.
Labels Fit(const Labels& names, Labels values) {
  values.resize(names.size());
  return values;
}

}  // namespace

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

CounterFamily::CounterFamily(std::string name, std::string help, Labels names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(names)) {}

void CounterFamily::Inc(const Labels& values, double by) {
  if (!(by >= 0)) return;  // counters only go up
  std::lock_guard<std::mutex> lock(mu_);
  series_[Fit(label_names_, values)] += by;
}

double CounterFamily::Value(const Labels& values) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(Fit(label_names_, values));
  return it == series_.end() ? 0 : it->second;
}

void CounterFamily::Render(std::string& out) const {
  Header(out, name_, help_, "counter");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, v] : series_) out += name_ + LabelText(label_names_, values) + " " + Number(v) + "\n";
}

HistogramFamily::HistogramFamily(std::string name, std::string help, Labels names, std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(names)), bounds_(std::move(bounds)) {}

void HistogramFamily::Observe(const Labels& values, double v) {
  if (std::isnan(v)) return;
  size_t at = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  std::lock_guard<std::mutex> lock(mu_);
  Series& s = series_[Fit(label_names_, values)];
  if (s.buckets.empty()) s.buckets.assign(bounds_.size() + 1, 0);
  ++s.buckets[at];
  s.sum += v;
  ++s.count;
}

uint64_t HistogramFamily::Count(const Labels& values) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(Fit(label_names_, values));
  return it == series_.end() ? 0 : it->second.count;
}

void HistogramFamily::Render(std::string& out) const {
  Header(out, name_, help_, "histogram");
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, s] : series_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += s.buckets[i];
      const std::string le = "le=\"" + (i < bounds_.size() ? Number(bounds_[i]) : std::string("+Inf")) + "\"";
      out += name_ + "_bucket" + LabelText(label_names_, values, le) + " " + std::to_string(cumulative) + "\n";
    }
    out += name_ + "_sum" + LabelText(label_names_, values) + " " + Number(s.sum) + "\n";
    out += name_ + "_count" + LabelText(label_names_, values) + " " + std::to_string(s.count) + "\n";
  }
}

void GaugeWriter::Gauge(const std::string& name, const std::string& help, const Labels& label_names) {
  name_ = name;
  auto [it, fresh] = families_.try_emplace(name);
  current_ = &it->second;
  if (!fresh) return;  // another collector's family: its header and labels stand
  order_.push_back(name);
  current_->label_names = label_names;
  Header(current_->text, name, help, "gauge");
}

void GaugeWriter::Sample(const Labels& values, double v) {
  if (current_ == nullptr) return;
  const Labels& names = current_->label_names;
  current_->text += name_ + LabelText(names, Fit(names, values)) + " " + Number(v) + "\n";
}

CollectorHandle::CollectorHandle(CollectorHandle&& o) noexcept : registry_(o.registry_), id_(o.id_) {
  o.registry_ = nullptr;
}

CollectorHandle& CollectorHandle::operator=(CollectorHandle&& o) noexcept {
  if (this != &o) {
    Reset();
    registry_ = o.registry_;
    id_ = o.id_;
    o.registry_ = nullptr;
  }
  return *this;
}

void CollectorHandle::Reset() {
  if (registry_ != nullptr) registry_->RemoveCollector(id_);
  registry_ = nullptr;
}

CounterFamily& Registry::Counter(const std::string& name, const std::string& help, const Labels& label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& f = counters_[name];
  if (!f) f.reset(new CounterFamily(name, help, label_names));
  return *f;
}

HistogramFamily& Registry::Histogram(const std::string& name, const std::string& help, const Labels& label_names,
                                     const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& f = histograms_[name];
  if (!f) f.reset(new HistogramFamily(name, help, label_names, bounds));
  return *f;
}

CollectorHandle Registry::AddCollector(std::function<void(GaugeWriter&)> collect) {
  std::lock_guard<std::mutex> lock(collect_mu_);
  uint64_t id = next_id_++;
  collectors_[id] = std::move(collect);
  return CollectorHandle(this, id);
}

void Registry::RemoveCollector(uint64_t id) {
  std::lock_guard<std::mutex> lock(collect_mu_);
  collectors_.erase(id);
}

std::string Registry::Render() const {
  std::string out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, std::string> by_name;
    for (const auto& [name, f] : counters_) f->Render(by_name[name]);
    for (const auto& [name, f] : histograms_) f->Render(by_name[name]);
    for (const auto& [name, text] : by_name) out += text;
  }
  std::lock_guard<std::mutex> lock(collect_mu_);
  GaugeWriter w;
  for (const auto& [id, collect] : collectors_) {
    w.current_ = nullptr;  // a collector starts with a Gauge call
    collect(w);
  }
  for (const auto& name : w.order_) out += w.families_.at(name).text;
  return out;
}

Registry& Global() {
  static Registry* r = new Registry();  // never destroyed: counted into until exit
  return *r;
}

const std::vector<double>& OperationSeconds() {
  static const std::vector<double> b{0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300};
  return b;
}

const std::vector<double>& RequestSeconds() {
  static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

}  // namespace zunvm::metrics
