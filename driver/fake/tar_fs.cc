#include "driver/fake/tar_fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <ctime>
#include <memory>

#include "common/base64.h"
#include "common/strings.h"

namespace zunvm {

namespace {
int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

std::string Parent(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == 0 ? "/" : p.substr(0, slash);
}

std::string Base(const std::string& p) { return p == "/" ? "/" : p.substr(p.rfind('/') + 1); }

std::string Rfc3339(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
}  // namespace

TarFs::TarFs(const std::string& hostname) {
  int64_t now = NowSeconds();
  for (const char* d : {"/", "/etc", "/tmp", "/root", "/bin"}) {
    nodes_[d] = Node{Type::kDir, "", static_cast<uint32_t>(std::string(d) == "/tmp" ? 01777 : 0755), now};
  }
  nodes_["/etc/hostname"] = Node{Type::kFile, hostname + "\n", 0644, now};
  nodes_["/etc/hosts"] = Node{Type::kFile, "127.0.0.1\tlocalhost\n127.0.1.1\t" + hostname + "\n", 0644, now};
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

bool TarFs::Exists(const std::string& path) const { return nodes_.count(Normalize(path)) > 0; }

bool TarFs::IsDir(const std::string& path) const {
  auto it = nodes_.find(Normalize(path));
  return it != nodes_.end() && it->second.type == Type::kDir;
}

Result<std::string> TarFs::ReadFile(const std::string& path) const {
  std::string p = Normalize(path);
  for (int hops = 0; hops < 16; ++hops) {  // follows symlinks, refusing loops
    auto it = nodes_.find(p);
    if (it == nodes_.end()) return Err(Status::NotFound(path + ": No such file or directory"));
    if (it->second.type == Type::kDir) return Err(Status::Invalid(path + ": Is a directory"));
    if (it->second.type == Type::kFile) return it->second.data;
    const std::string& target = it->second.data;
    p = Normalize(!target.empty() && target.front() == '/' ? target : Parent(p) + "/" + target);
  }
  return Err(Status::Invalid(path + ": Too many levels of symbolic links"));
}

int64_t TarFs::TotalBytes() const {
  int64_t total = 0;
  for (const auto& [p, n] : nodes_) total += static_cast<int64_t>(n.data.size());
  return total;
}

Status TarFs::WriteFile(const std::string& path, const std::string& data, bool append) {
  std::string p = Normalize(path);
  if (!IsDir(Parent(p))) return Status::NotFound(Parent(p) + ": No such directory");
  auto it = nodes_.find(p);
  if (it != nodes_.end() && it->second.type == Type::kDir) {
    return Status::Invalid(path + ": Is a directory");
  }
  if (TotalBytes() + static_cast<int64_t>(data.size()) > kMaxBytes) {
    return Status::Invalid("container filesystem is full");
  }
  Node& n = nodes_[p];
  n.type = Type::kFile;
  n.data = append ? n.data + data : data;
  n.mtime = NowSeconds();
  return Status::Ok();
}

std::vector<std::string> TarFs::List(const std::string& dir) const {
  std::string d = Normalize(dir);
  std::vector<std::string> out;
  for (const auto& [p, n] : nodes_) {
    if (p != "/" && Parent(p) == d) out.push_back(Base(p));
  }
  return out;
}

Status TarFs::MakeDirs(const std::string& path) {
  std::string p;
  for (const auto& part : Split(Normalize(path), '/')) {
    if (part.empty()) continue;
    p += "/" + part;
    auto it = nodes_.find(p);
    if (it == nodes_.end()) {
      nodes_[p] = Node{Type::kDir, "", 0755, NowSeconds()};
    } else if (it->second.type != Type::kDir) {
      return Status::Invalid(p + " is not a directory");
    }
  }
  return Status::Ok();
}

Result<Archive> TarFs::Export(const std::string& path) const {
  std::string root = Normalize(path);
  auto it = nodes_.find(root);
  if (it == nodes_.end()) return Err(Status::NotFound("Could not find the file " + path));
  std::unique_ptr<archive, ArchiveWriteDeleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  size_t cap = static_cast<size_t>(TotalBytes()) * 2 + 1024 * 1024;
  std::string buf(cap, '\0');
  size_t used = 0;
  if (archive_write_open_memory(a.get(), buf.data(), buf.size(), &used) != ARCHIVE_OK) {
    return Err(Status::Internal("cannot start tar"));
  }
  std::string prefix = root == "/" ? "/" : root + "/";
  std::string top = Base(root) == "/" ? "." : Base(root);
  for (const auto& [p, n] : nodes_) {
    if (p != root && p.rfind(prefix, 0) != 0) continue;
    std::string name = p == root ? top : top + "/" + p.substr(prefix.size());
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_mtime(e.get(), n.mtime, 0);
    archive_entry_set_perm(e.get(), n.mode);
    if (n.type == Type::kDir) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
    } else if (n.type == Type::kSymlink) {
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_symlink(e.get(), n.data.c_str());
    } else {
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(n.data.size()));
    }
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
      return Err(Status::Internal(std::string("tar: ") + archive_error_string(a.get())));
    }
    if (n.type == Type::kFile && !n.data.empty() &&
        archive_write_data(a.get(), n.data.data(), n.data.size()) < 0) {
      return Err(Status::Internal(std::string("tar: ") + archive_error_string(a.get())));
    }
  }
  archive_write_close(a.get());
  buf.resize(used);
  Archive out;
  out.tar = std::move(buf);
  const Node& n = it->second;
  out.stat.name = Base(root);
  out.stat.size = static_cast<int64_t>(n.data.size());
  out.stat.mode = n.mode | (n.type == Type::kDir ? S_IFDIR : n.type == Type::kSymlink ? S_IFLNK : S_IFREG);
  out.stat.mtime = Rfc3339(n.mtime);
  out.stat.link_target = n.type == Type::kSymlink ? n.data : "";
  return out;
}

Status TarFs::Import(const std::string& dir, const std::string& tar) {
  std::string base = Normalize(dir);
  if (!Exists(base)) return Status::NotFound("Could not find the directory " + dir);
  if (!IsDir(base)) return Status::Invalid(dir + " is not a directory");
  std::unique_ptr<archive, ArchiveReadDeleter> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK) {
    return Status::Invalid("not a tar archive");
  }
  std::map<std::string, Node> staged = nodes_;  // applied only if every entry is accepted
  int64_t total = TotalBytes();
  archive_entry* e = nullptr;
  int entries = 0;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) return Status::Invalid(std::string("corrupt tar: ") + archive_error_string(a.get()));
    if (++entries > 100000) return Status::Invalid("too many entries in archive");
    const char* raw = archive_entry_pathname(e);
    std::string name = raw ? raw : "";
    if (name.empty() || name.front() == '/') return Status::Invalid("refusing absolute path in archive: " + name);
    for (const auto& part : Split(name, '/')) {
      if (part == "..") return Status::Invalid("refusing '..' in archive path: " + name);
    }
    std::string target = Normalize(base + "/" + name);
    // No component on the way (below the destination) may be a symlink: writing through one
    // could leave the container root.
    for (std::string p = Parent(target); p.size() > base.size(); p = Parent(p)) {
      auto it = staged.find(p);
      if (it != staged.end() && it->second.type == Type::kSymlink) {
        return Status::Invalid("refusing to write through symlink " + p);
      }
    }
    if (!staged.count(Parent(target)) || staged[Parent(target)].type != Type::kDir) {
      return Status::Invalid("parent directory missing for " + name);
    }
    Node n;
    n.mode = archive_entry_perm(e) & 07777;
    n.mtime = archive_entry_mtime(e);
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        n.type = Type::kDir;
        break;
      case AE_IFLNK:
        n.type = Type::kSymlink;
        n.data = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
        break;
      case AE_IFREG: {
        n.type = Type::kFile;
        la_int64_t size = archive_entry_size(e);
        if (size < 0 || total + size > kMaxBytes) return Status::Invalid("archive too large");
        n.data.resize(static_cast<size_t>(size));
        la_ssize_t got = archive_read_data(a.get(), n.data.data(), n.data.size());
        if (got != size) return Status::Invalid("corrupt tar: short file " + name);
        total += size;
        break;
      }
      default:
        continue;  // devices, fifos, hard links: not in the fake
    }
    auto old = staged.find(target);
    if (old != staged.end() && old->second.type == Type::kDir && n.type == Type::kDir) {
      old->second.mode = n.mode;
      continue;
    }
    staged[target] = std::move(n);
  }
  nodes_ = std::move(staged);
  return Status::Ok();
}

nlohmann::json TarFs::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [p, n] : nodes_) {
    j[p] = {{"t", static_cast<int>(n.type)}, {"d", Base64Encode(n.data)}, {"m", n.mode}, {"mt", n.mtime}};
  }
  return j;
}

TarFs TarFs::FromJson(const nlohmann::json& j) {
  TarFs fs;
  fs.nodes_.clear();
  for (auto it = j.begin(); it != j.end(); ++it) {
    Node n;
    n.type = static_cast<Type>(it.value().at("t").get<int>());
    auto data = Base64Decode(it.value().at("d").get<std::string>());
    if (!data) throw std::invalid_argument("bad file data in fake state");
    n.data = std::move(*data);
    n.mode = it.value().at("m").get<uint32_t>();
    n.mtime = it.value().at("mt").get<int64_t>();
    fs.nodes_[it.key()] = std::move(n);
  }
  if (!fs.nodes_.count("/")) fs.nodes_["/"] = Node{Type::kDir, "", 0755, 0};
  return fs;
}

}  // namespace zunvm
