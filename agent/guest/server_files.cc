// AgentServer, part 4: blobs (archives in transit, moved in attachment chunks) and the
// confined copies in and out of a container's root (server.h, common/root_files.h).
#include "agent/guest/server.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/root_files.h"

namespace zunvm::agent {

namespace {

constexpr size_t kMaxBlobBytes = size_t{128} << 20;  // all blobs together

bool SafeId(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

Status TooMuch() { return Status(Code::kPayloadTooLarge, "the agent holds at most 128 MiB of transfers"); }

}  // namespace

Result<op::BlobPut::Response> AgentServer::BlobPut(const op::BlobPut::Request& r) {
  if (!SafeId(r.blob)) return Err(Status::Invalid("blob must be 1..64 of [A-Za-z0-9._-]"));
  if (r.data.size() > op::kMaxBlobChunk) return Err(Status::Invalid("chunk larger than 1 MiB"));
  std::string& blob = blobs_[r.blob];
  if (r.offset == 0) {
    blob_bytes_ -= blob.size();
    blob.clear();
  } else if (r.offset != blob.size()) {
    return Err(Status::Invalid("offset " + std::to_string(r.offset) + " is not the blob's end " +
                               std::to_string(blob.size())));
  }
  if (blob_bytes_ + r.data.size() > kMaxBlobBytes) return Err(TooMuch());
  blob += r.data;
  blob_bytes_ += r.data.size();
  return op::BlobPut::Response{blob.size()};
}

Result<op::BlobGet::Response> AgentServer::BlobGet(const op::BlobGet::Request& r) {
  auto it = blobs_.find(r.blob);
  if (it == blobs_.end()) return Err(Status::NotFound("no such blob " + r.blob));
  if (r.offset > it->second.size()) return Err(Status::Invalid("offset past the end"));
  std::string chunk = it->second.substr(r.offset, std::min<uint64_t>(r.length, op::kMaxBlobChunk));
  bool eof = r.offset + chunk.size() >= it->second.size();
  return op::BlobGet::Response{it->second.size(), eof, std::move(chunk)};
}

Result<op::Empty> AgentServer::BlobDrop(const op::BlobDrop::Request& r) {
  if (auto it = blobs_.find(r.blob); it != blobs_.end()) {
    blob_bytes_ -= it->second.size();
    blobs_.erase(it);
  }
  return op::Empty{};
}

Result<int> AgentServer::ContainerRoot(const std::string& id) {
  auto c = FindContainer(id);
  if (!c) return Err(c.error());
  int fd = ::open(("/proc/" + std::to_string((*c)->init) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Err(Status::NotFound("the root of container " + id + " is gone"));
  return fd;
}

Result<op::CopyOut::Response> AgentServer::CopyOut(const op::CopyOut::Request& r) {
  if (!SafeId(r.blob)) return Err(Status::Invalid("blob must be 1..64 of [A-Za-z0-9._-]"));
  auto root = ContainerRoot(r.container);
  if (!root) return Err(root.error());
  auto out = rootfiles::CopyOut(*root, r.path);
  ::close(*root);
  if (!out) return Err(out.error());
  if (auto old = blobs_.find(r.blob); old != blobs_.end()) {
    blob_bytes_ -= old->second.size();
    blobs_.erase(old);
  }
  if (blob_bytes_ + out->tar.size() > kMaxBlobBytes) return Err(TooMuch());
  size_t size = out->tar.size();
  blob_bytes_ += size;
  blobs_[r.blob] = std::move(out->tar);
  return op::CopyOut::Response{size, out->stat};
}

Result<op::Empty> AgentServer::CopyIn(const op::CopyOut::Request& r) {
  auto it = blobs_.find(r.blob);
  if (it == blobs_.end()) return Err(Status::NotFound("no such blob " + r.blob));
  std::string tar = std::move(it->second);
  blob_bytes_ -= tar.size();
  blobs_.erase(it);
  auto root = ContainerRoot(r.container);
  if (!root) return Err(root.error());
  Status st = rootfiles::CopyIn(*root, r.path, tar);
  ::close(*root);
  if (!st.ok()) return Err(st);
  return op::Empty{};
}

}  // namespace zunvm::agent
