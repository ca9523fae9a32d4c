#include "rest/container_view_cache.h"

#include "rest/views.h"

namespace zunvm {

void ContainerViewCache::AppendTo(std::string& out, const Container& c, const std::string& base_url, TimePoint now,
                                  bool admin) {
  if (c.revision == 0) {
    out += DumpJson(ContainerView(c, base_url, now, admin));
    return;
  }
  std::string detail = c.StatusDetail(now);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(c.uuid);
    if (it != entries_.end() && it->second.revision == c.revision && it->second.admin == admin &&
        it->second.base_url == base_url && it->second.status_detail == detail) {
      out += it->second.text;
      return;
    }
  }
  std::string text = DumpJson(ContainerView(c, base_url, now, admin));
  out += text;
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[c.uuid] = Entry{c.revision, admin, base_url, std::move(detail), std::move(text)};
}

size_t ContainerViewCache::Size() {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace zunvm
