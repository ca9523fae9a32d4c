#include "tests/fakes/tar_fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <ctime>
#include <deque>
#include <memory>

#include "common/base64.h"
#include "common/libarchive_util.h"
#include "common/strings.h"

namespace zunvm {

namespace {

constexpr int kMaxSymlinkHops = 40;
constexpr int kMaxEntries = 100000;

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

// Both take normalised absolute paths.
std::string Parent(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
}
std::string Base(const std::string& p) { return p == "/" ? "/" : p.substr(p.rfind('/') + 1); }
std::string Child(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string Rfc3339(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

uint32_t TypeBits(TarFs::Type t) {
  switch (t) {
    case TarFs::Type::kDir:
      return S_IFDIR;
    case TarFs::Type::kSymlink:
      return S_IFLNK;
    case TarFs::Type::kFile:
      break;
  }
  return S_IFREG;
}

// A relative archive name with no ".." component, or nullopt.
bool SafeName(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  for (const auto& part : Split(name, '/')) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

TarFs::TarFs(const std::string& hostname) {
  int64_t now = NowSeconds();
  for (const char* d : {"/", "/bin", "/etc", "/root", "/tmp"}) {
    nodes_[d] = Node{Type::kDir, "", std::string(d) == "/tmp" ? 01777u : 0755u, now};
  }
  nodes_["/root"].mode = 0700;
  nodes_["/etc/hostname"] = Node{Type::kFile, hostname + "\n", 0644, now};
  nodes_["/etc/hosts"] =
      Node{Type::kFile,
           "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n172.17.0.2\t" + hostname + "\n",
           0644, now};
}

std::string TarFs::Normalize(const std::string& path) {
  std::vector<std::string> parts;
  for (const auto& p : Split(path, '/')) {
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(p);
  }
  return "/" + Join(parts, "/");
}

std::optional<std::string> TarFs::Resolve(const std::string& path, bool follow_last) const {
  std::deque<std::string> todo;
  for (auto& p : Split(path, '/')) {
    if (!p.empty() && p != ".") todo.push_back(std::move(p));
  }
  std::string cur = "/";
  int hops = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part == "..") {
      cur = Parent(cur);
      continue;
    }
    std::string next = Child(cur, part);
    auto it = nodes_.find(next);
    if (it != nodes_.end() && it->second.type == Type::kSymlink && (!todo.empty() || follow_last)) {
      if (++hops > kMaxSymlinkHops) return std::nullopt;
      const std::string& target = it->second.data;
      if (!target.empty() && target.front() == '/') cur = "/";
      auto parts = Split(target, '/');
      for (auto r = parts.rbegin(); r != parts.rend(); ++r) {
        if (!r->empty() && *r != ".") todo.push_front(*r);
      }
      continue;
    }
    cur = std::move(next);
  }
  return cur;
}

const TarFs::Node* TarFs::Lookup(const std::string& path, bool follow_last) const {
  auto p = Resolve(path, follow_last);
  if (!p) return nullptr;
  auto it = nodes_.find(*p);
  return it == nodes_.end() ? nullptr : &it->second;
}

bool TarFs::IsDir(const std::string& path) const {
  const Node* n = Lookup(path);
  return n && n->type == Type::kDir;
}

Result<std::string> TarFs::ReadFile(const std::string& path) const {
  const Node* n = Lookup(path);
  if (!n) return Err(Status::NotFound(path + ": No such file or directory"));
  if (n->type == Type::kDir) return Err(Status::Invalid(path + ": Is a directory"));
  return n->data;
}

int64_t TarFs::TotalBytes() const {
  int64_t total = 0;
  for (const auto& [p, n] : nodes_) total += static_cast<int64_t>(n.data.size());
  return total;
}

Status TarFs::WriteFile(const std::string& path, const std::string& data, bool append) {
  auto p = Resolve(path, true);
  if (!p) return Status::Invalid(path + ": Too many levels of symbolic links");
  if (*p == "/") return Status::Invalid(path + ": Is a directory");
  auto parent = nodes_.find(Parent(*p));
  if (parent == nodes_.end()) return Status::NotFound(path + ": No such file or directory");
  if (parent->second.type != Type::kDir) return Status::Invalid(path + ": Not a directory");
  auto it = nodes_.find(*p);
  if (it != nodes_.end() && it->second.type == Type::kDir) {
    return Status::Invalid(path + ": Is a directory");
  }
  int64_t replaced =
      it == nodes_.end() || append ? 0 : static_cast<int64_t>(it->second.data.size());
  if (TotalBytes() - replaced + static_cast<int64_t>(data.size()) > kMaxBytes) {
    return Status::Invalid(path + ": No space left on device (fake filesystem limit 64 MiB)");
  }
  Node& n = nodes_[*p];
  if (append)
    n.data += data;
  else
    n.data = data;
  n.mtime = NowSeconds();
  return Status::Ok();
}

Result<std::vector<std::string>> TarFs::List(const std::string& dir) const {
  auto d = Resolve(dir, true);
  auto it = d ? nodes_.find(*d) : nodes_.end();
  if (it == nodes_.end()) return Err(Status::NotFound(dir + ": No such file or directory"));
  if (it->second.type != Type::kDir) return Err(Status::Invalid(dir + ": Not a directory"));
  std::string prefix = *d == "/" ? "/" : *d + "/";
  std::vector<std::string> out;
  for (auto c = nodes_.lower_bound(prefix); c != nodes_.end() && StartsWith(c->first, prefix);
       ++c) {
    if (c->first != "/" && Parent(c->first) == *d) out.push_back(Base(c->first));
  }
  return out;
}

Status TarFs::MakeDirs(const std::string& path) {
  auto p = Resolve(path, true);
  if (!p) return Status::Invalid(path + ": Too many levels of symbolic links");
  std::string cur;
  for (const auto& part : Split(*p, '/')) {
    if (part.empty()) continue;
    cur += "/" + part;
    auto it = nodes_.find(cur);
    if (it == nodes_.end()) {
      nodes_[cur] = Node{Type::kDir, "", 0755, NowSeconds()};
    } else if (it->second.type != Type::kDir) {
      return Status::Invalid(cur + ": Not a directory");
    }
  }
  return Status::Ok();
}

Result<Archive> TarFs::Export(const std::string& path) const {
  auto root = Resolve(path, false);
  auto top_it = root ? nodes_.find(*root) : nodes_.end();
  if (top_it == nodes_.end()) return Err(Status::NotFound("Could not find the file " + path));
  std::string top = Base(Normalize(path));
  if (top == "/") top = ".";

  Archive out;
  std::string err;
  ArchiveWriter a = OpenTarWriterToString(&out.tar, &err);
  if (!a) return Err(Status::Internal(err));
  auto add = [&](const std::string& name, const Node& n) -> Status {
    ArchiveEntry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_mode(e.get(), TypeBits(n.type) | (n.mode & 07777));
    archive_entry_set_mtime(e.get(), n.mtime, 0);
    archive_entry_set_uname(e.get(), "root");
    archive_entry_set_gname(e.get(), "root");
    if (n.type == Type::kSymlink) archive_entry_set_symlink(e.get(), n.data.c_str());
    if (n.type == Type::kFile)
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(n.data.size()));
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK ||
        (n.type == Type::kFile && !n.data.empty() &&
         archive_write_data(a.get(), n.data.data(), n.data.size()) < 0)) {
      return Status::Internal(std::string("tar: ") + archive_error_string(a.get()));
    }
    return Status::Ok();
  };
  ZUNVM_RETURN_IF_ERROR(add(top, top_it->second));
  if (top_it->second.type == Type::kDir) {
    // Descendants are contiguous in the sorted map, each after its parent.
    std::string prefix = *root == "/" ? "/" : *root + "/";
    for (auto it = nodes_.lower_bound(prefix); it != nodes_.end() && StartsWith(it->first, prefix);
         ++it) {
      if (it->first == "/") continue;
      ZUNVM_RETURN_IF_ERROR(add(top + "/" + it->first.substr(prefix.size()), it->second));
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Err(Status::Internal(std::string("tar: ") + archive_error_string(a.get())));
  }
  const Node& n = top_it->second;
  out.stat.name = Base(Normalize(path));
  out.stat.size = n.type == Type::kDir ? 4096 : static_cast<int64_t>(n.data.size());
  out.stat.mode = TypeBits(n.type) | (n.mode & 07777);
  out.stat.mtime = Rfc3339(n.mtime);
  if (n.type == Type::kSymlink) out.stat.link_target = n.data;
  return out;
}

Status TarFs::Import(const std::string& dir, const std::string& tar) {
  auto base = Resolve(dir, true);
  auto base_it = base ? nodes_.find(*base) : nodes_.end();
  if (base_it == nodes_.end()) return Status::NotFound("Could not find the file " + dir);
  if (base_it->second.type != Type::kDir) return Status::Invalid(dir + " is not a directory");

  ArchiveReader a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK) {
    return Status::Invalid(std::string("invalid tar archive: ") + archive_error_string(a.get()));
  }
  std::map<std::string, Node> staged = nodes_;  // swapped in only if every entry is accepted
  const int64_t existing = TotalBytes();
  int64_t added = 0;
  archive_entry* e = nullptr;
  for (int entries = 0;; ++entries) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Status::Invalid(std::string("invalid tar archive: ") + archive_error_string(a.get()));
    }
    if (entries >= kMaxEntries) return Status::Invalid("too many entries in archive");
    const char* raw = archive_entry_pathname(e);
    std::string name = raw ? raw : "";
    if (!SafeName(name))
      return Status::Invalid("refusing archive entry outside the target: " + name);
    std::string rel = Normalize(name);
    std::string target = rel == "/" ? *base : (*base == "/" ? rel : *base + rel);

    // Every directory between the destination and the entry must be a real directory (or be
    // missing and get created): writing through a symlink could leave the destination.
    std::vector<std::string> missing;
    for (std::string p = Parent(target); target != *base && p.size() > base->size();
         p = Parent(p)) {
      auto it = staged.find(p);
      if (it == staged.end()) {
        missing.push_back(p);
      } else if (it->second.type == Type::kSymlink) {
        return Status::Invalid("refusing to extract " + name + " through symlink " + p);
      } else if (it->second.type != Type::kDir) {
        return Status::Invalid("cannot extract " + name + ": " + p + " is not a directory");
      }
    }
    for (auto p = missing.rbegin(); p != missing.rend(); ++p) {
      staged[*p] = Node{Type::kDir, "", 0755, NowSeconds()};
    }

    Node n;
    n.mode = archive_entry_perm(e) & 07777;
    n.mtime = archive_entry_mtime(e);
    const char* hardlink = archive_entry_hardlink(e);
    if (hardlink) {
      std::string src_name = hardlink;
      if (!SafeName(src_name)) return Status::Invalid("refusing hard link to " + src_name);
      std::string src = Normalize(*base + "/" + src_name);
      auto it = staged.find(src);
      if (it == staged.end() || it->second.type != Type::kFile) {
        return Status::Invalid("hard link " + name + " to a missing file " + src_name);
      }
      n = it->second;
      added += static_cast<int64_t>(n.data.size());
    } else if (archive_entry_filetype(e) == AE_IFDIR) {
      n.type = Type::kDir;
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      n.type = Type::kSymlink;
      n.data = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
    } else if (archive_entry_filetype(e) == AE_IFREG) {
      n.type = Type::kFile;
      char buf[64 * 1024];
      for (;;) {
        la_ssize_t got = archive_read_data(a.get(), buf, sizeof buf);
        if (got < 0) {
          return Status::Invalid(std::string("invalid tar archive: ") +
                                 archive_error_string(a.get()));
        }
        if (got == 0) break;
        added += got;
        if (existing + added > kMaxBytes) {
          return Status::Invalid(
              "archive too large: the container filesystem is limited to 64 MiB");
        }
        n.data.append(buf, static_cast<size_t>(got));
      }
    } else {
      continue;  // devices, fifos, sockets: not in the fake
    }
    added += static_cast<int64_t>(n.type == Type::kSymlink ? n.data.size() : 0);

    auto old = staged.find(target);
    if (old != staged.end()) {
      bool old_dir = old->second.type == Type::kDir, new_dir = n.type == Type::kDir;
      if (old_dir && new_dir) {
        old->second.mode = n.mode;
        old->second.mtime = n.mtime;
        continue;
      }
      if (old_dir != new_dir) {
        return Status::Invalid("cannot overwrite " + std::string(old_dir ? "directory " : "file ") +
                               target + " with " + (new_dir ? "a directory" : "a non-directory"));
      }
    }
    staged[target] = std::move(n);
  }
  int64_t total = 0;
  for (const auto& [p, n] : staged) total += static_cast<int64_t>(n.data.size());
  if (total > kMaxBytes) {
    return Status::Invalid("archive too large: the container filesystem is limited to 64 MiB");
  }
  nodes_.swap(staged);
  return Status::Ok();
}

nlohmann::json TarFs::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [p, n] : nodes_) {
    j[p] = {{"t", static_cast<int>(n.type)},
            {"d", Base64Encode(n.data)},
            {"m", n.mode},
            {"mt", n.mtime}};
  }
  return j;
}

Result<TarFs> TarFs::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Err(Status::Invalid("fake filesystem: not an object"));
  TarFs fs;
  fs.nodes_.clear();
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const nlohmann::json& v = it.value();
      Node n;
      int type = v.at("t").get<int>();
      if (type < 0 || type > 2) return Err(Status::Invalid("fake filesystem: bad node type"));
      n.type = static_cast<Type>(type);
      auto data = Base64Decode(v.at("d").get<std::string>());
      if (!data) return Err(Status::Invalid("fake filesystem: bad node data"));
      n.data = std::move(*data);
      n.mode = v.at("m").get<uint32_t>() & 07777;
      n.mtime = v.at("mt").get<int64_t>();
      if (Normalize(it.key()) != it.key()) return Err(Status::Invalid("fake filesystem: bad path"));
      fs.nodes_[it.key()] = std::move(n);
    }
  } catch (const nlohmann::json::exception& e) {
    return Err(Status::Invalid(std::string("fake filesystem: ") + e.what()));
  }
  auto root = fs.nodes_.find("/");
  if (root == fs.nodes_.end() || root->second.type != Type::kDir) {
    return Err(Status::Invalid("fake filesystem: no root directory"));
  }
  for (const auto& [p, n] : fs.nodes_) {
    if (p == "/") continue;
    auto parent = fs.nodes_.find(Parent(p));
    if (parent == fs.nodes_.end() || parent->second.type != Type::kDir) {
      return Err(Status::Invalid("fake filesystem: orphan " + p));
    }
  }
  if (fs.TotalBytes() > kMaxBytes) return Err(Status::Invalid("fake filesystem: too large"));
  return fs;
}

}  // namespace zunvm
