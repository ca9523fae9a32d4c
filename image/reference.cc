#include "image/reference.h"

#include <cctype>

namespace zunvm::image {

namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A repository path component: [a-z0-9]+ separated by '.', '_', '__' or '-'+.
bool ValidComponent(const std::string& c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (IsLowerAlnum(ch)) continue;
    if (ch == '.' || ch == '-') {
      if (ch == '.' && !IsLowerAlnum(c[i + 1])) return false;
      continue;
    }
    if (ch == '_') {
      if (c[i + 1] == '_') ++i;
      if (!IsLowerAlnum(c[i + 1])) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool ValidTag(const std::string& t) {
  if (t.empty() || t.size() > 128) return false;
  if (!(std::isalnum(static_cast<unsigned char>(t[0])) || t[0] == '_')) return false;
  for (char c : t) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

bool ValidRegistry(const std::string& r) {
  if (r.empty() || r.size() > 255) return false;
  for (char c : r) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']')) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool ValidDigest(const std::string& d) {
  if (d.size() != 71 || d.compare(0, 7, "sha256:") != 0) return false;
  for (size_t i = 7; i < d.size(); ++i) {
    char c = d[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<Reference> ParseReference(const std::string& text) {
  auto bad = [&](const std::string& why) { return Err(Status::Invalid("invalid image reference \"" + text + "\": " + why)); };
  if (text.empty() || text.size() > 512) return bad("must be 1 to 512 characters");
  Reference r;
  std::string rest = text;
  if (auto at = rest.find('@'); at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!ValidDigest(r.digest)) return bad("the digest must be sha256:<64 lowercase hex>");
  }
  // A tag is after the last ':' that comes after the last '/'.
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!ValidTag(r.tag)) return bad("invalid tag");
  }
  size_t first = rest.find('/');
  std::string head = first == std::string::npos ? "" : rest.substr(0, first);
  if (first != std::string::npos &&
      (head.find('.') != std::string::npos || head.find(':') != std::string::npos || head == "localhost")) {
    r.registry = head;
    rest = rest.substr(first + 1);
    if (!ValidRegistry(r.registry)) return bad("invalid registry");
  } else {
    r.registry = "docker.io";
  }
  if (rest.empty() || rest.size() > 255) return bad("invalid repository name");
  size_t i = 0;
  while (i <= rest.size()) {
    size_t j = rest.find('/', i);
    if (j == std::string::npos) j = rest.size();
    if (!ValidComponent(rest.substr(i, j - i))) return bad("repository names are lowercase [a-z0-9] with . _ - separators");
    i = j + 1;
  }
  if (r.registry == "docker.io" && rest.find('/') == std::string::npos) rest = "library/" + rest;
  r.repository = rest;
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

std::string Reference::Canonical() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::FamiliarName() const {
  if (registry == "docker.io") {
    return repository.rfind("library/", 0) == 0 ? repository.substr(8) : repository;
  }
  return registry + "/" + repository;
}

bool Reference::IsLocalRegistry() const { return IsLocalRegistryHost(registry); }

bool IsLocalRegistryHost(std::string host) {
  if (host.rfind("[::1]", 0) == 0) return true;
  if (auto c = host.find(':'); c != std::string::npos) host = host.substr(0, c);
  return host == "localhost" || host.rfind("127.", 0) == 0;
}

}  // namespace zunvm::image
