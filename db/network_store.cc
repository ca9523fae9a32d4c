#include "db/network_store.h"

#include <algorithm>

#include <chrono>
#include <set>

#include "common/ids.h"
#include "common/timefmt.h"

namespace zunvm {
namespace {

constexpr const char* kNetColumns = "uuid, name, subnet, gateway, created_at, project_id";
constexpr const char* kAllocColumns = "network_uuid, container_uuid, address, port_id, mac";

NetworkRecord NetFromRow(SQLite::Statement& q) {
  return {q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(5).getString(),
          q.getColumn(2).getString(), q.getColumn(3).getString(), q.getColumn(4).getString()};
}

IpAllocation AllocFromRow(SQLite::Statement& q) {
  return {q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getString(),
          q.getColumn(3).getString(), q.getColumn(4).getString()};
}

// 52:54:00 (the prefix libvirt and QEMU use) and three random bytes.
std::string NewMac() {
  std::string hex = RandomHex(3);
  return "52:54:00:" + hex.substr(0, 2) + ":" + hex.substr(2, 2) + ":" + hex.substr(4, 2);
}

Status NetworkNotFound(const std::string& id) { return Status::NotFound("Network " + id + " could not be found."); }

}  // namespace

Result<NetworkRecord> NetworkStore::Create(const std::string& name, const std::string& subnet,
                                           const std::string& project_id) {
  auto s = ParseIpv4Subnet(subnet);
  if (!s) return Err(s.error());
  if (s->prefix > 30) {
    return Err(Status::Invalid("Subnet " + subnet + " is too small: it needs a gateway and hosts.",
                               "InvalidValue"));
  }
  NetworkRecord r{NewUuid(), name, project_id, s->ToString(), FormatIpv4(s->FirstHost()),
                  FormatApiTime(std::chrono::system_clock::now())};
  Status st = db_->Run([&](SQLite::Database& db) {
    SQLite::Statement taken(db, "SELECT name FROM networks WHERE (name = ? AND project_id = ?) OR subnet = ?");
    taken.bind(1, r.name);
    taken.bind(2, r.project_id);
    taken.bind(3, r.subnet);
    if (taken.executeStep()) {
      return Status::Conflict("A network named " + r.name + " or with subnet " + r.subnet + " already exists.");
    }
    SQLite::Statement q(db, std::string("INSERT INTO networks(") + kNetColumns +
                                ") VALUES(?, ?, ?, ?, ?, ?)");
    q.bind(1, r.uuid);
    q.bind(2, r.name);
    q.bind(3, r.subnet);
    q.bind(4, r.gateway);
    q.bind(5, r.created_at);
    q.bind(6, r.project_id);
    q.exec();
    return Status::Ok();
  });
  if (!st.ok()) return Err(st);
  return r;
}

Result<NetworkRecord> NetworkStore::Get(const std::string& id, const std::optional<std::string>& project) {
  // A uuid first, then the project's own name before a shared one.
  std::string select = std::string("SELECT ") + kNetColumns + " FROM networks WHERE (uuid = ? OR name = ?)";
  auto out = project ? db_->QueryOne<NetworkRecord>(
                           select + " AND project_id IN (?, '') ORDER BY uuid = ? DESC, project_id = '' ASC",
                           NetFromRow, id, id, *project, id)
                     : db_->QueryOne<NetworkRecord>(select + " ORDER BY uuid = ? DESC", NetFromRow, id, id, id);
  if (!out) return Err(out.error());
  if (!*out) return Err(NetworkNotFound(id));
  return **out;
}

Result<std::vector<NetworkRecord>> NetworkStore::All() {
  return db_->Query<NetworkRecord>(std::string("SELECT ") + kNetColumns + " FROM networks ORDER BY id", NetFromRow);
}

Status NetworkStore::Delete(const std::string& uuid) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Transaction tx(db);
    SQLite::Statement used(db, "SELECT COUNT(*) FROM ip_allocations WHERE network_uuid = ?");
    used.bind(1, uuid);
    used.executeStep();
    if (used.getColumn(0).getInt() > 0) {
      return Status::Conflict("Network " + uuid + " still has addresses in use.");
    }
    SQLite::Statement q(db, "DELETE FROM networks WHERE uuid = ?");
    q.bind(1, uuid);
    if (q.exec() == 0) return NetworkNotFound(uuid);
    tx.commit();
    SetFreeFrom(uuid, 0);
    return Status::Ok();
  });
}

Result<IpAllocation> NetworkStore::Allocate(const std::string& network_uuid,
                                            const std::string& container_uuid,
                                            const std::optional<std::string>& fixed_ip) {
  std::optional<uint32_t> wanted;
  if (fixed_ip) {
    auto a = ParseIpv4(*fixed_ip);
    if (!a) return Err(a.error());
    wanted = *a;
  }
  IpAllocation out;
  bool hinted = false;
  // Group-committed with other writers: the rows of allocations earlier in the same group are
  // visible here (one connection), so two creates cannot take one address.
  Status st = db_->Write([&](SQLite::Database& db) {
    CachedStatement n = db_->Prepare(db, "SELECT subnet FROM networks WHERE uuid = ?");
    n->bind(1, network_uuid);
    if (!n->executeStep()) return NetworkNotFound(network_uuid);
    auto subnet = ParseIpv4Subnet(n->getColumn(0).getString());
    if (!subnet) return Status::Internal("stored subnet is damaged: " + subnet.error().message());
    CachedStatement u = db_->Prepare(db, "SELECT 1 FROM ip_allocations WHERE network_uuid = ? AND address = ?");
    auto used = [&](uint32_t a) {
      u->reset();
      u->bind(1, network_uuid);
      u->bind(2, FormatIpv4(a));
      return u->executeStep();
    };
    const uint32_t gateway = subnet->FirstHost();
    uint32_t addr = 0;
    if (wanted) {
      if (!subnet->Contains(*wanted) || *wanted == subnet->base || *wanted == gateway ||
          *wanted == subnet->Broadcast()) {
        return Status::Invalid("Fixed IP " + *fixed_ip + " is not a host address of subnet " +
                               subnet->ToString() + " (the gateway " + FormatIpv4(gateway) + " is reserved).");
      }
      if (used(*wanted)) {
        return Status::Conflict("IP address " + *fixed_ip + " is already in use.");
      }
      addr = *wanted;
    } else {
      // The lowest free address: from the lowest one that may be free (FreeFrom), by index.
      for (uint32_t a = std::max(gateway + 1, FreeFrom(network_uuid)); a <= subnet->LastHost(); ++a) {
        if (!used(a)) {
          addr = a;
          break;
        }
      }
      if (addr == 0) {
        return Status::Unavailable("No more IP addresses available on subnet " + subnet->ToString() + ".");
      }
    }
    out = {network_uuid, container_uuid, FormatIpv4(addr), NewUuid(), ""};
    for (int tries = 0; tries < 16 && out.mac.empty(); ++tries) {
      std::string mac = NewMac();
      CachedStatement m = db_->Prepare(db, "SELECT 1 FROM ip_allocations WHERE mac = ?");
      m->bind(1, mac);
      if (!m->executeStep()) out.mac = mac;
    }
    if (out.mac.empty()) return Status::Internal("could not pick a unique MAC address");
    CachedStatement q = db_->Prepare(db, std::string("INSERT INTO ip_allocations(") + kAllocColumns +
                                ") VALUES(?, ?, ?, ?, ?)");
    q->bind(1, out.network_uuid);
    q->bind(2, out.container_uuid);
    q->bind(3, out.address);
    q->bind(4, out.port_id);
    q->bind(5, out.mac);
    q->exec();
    if (!wanted) {
      SetFreeFrom(network_uuid, addr + 1);  // every address below addr + 1 is taken
      hinted = true;
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    // The insert did not last (the group's COMMIT failed): its address may be free after all.
    if (hinted) LowerFreeFrom(network_uuid, ParseIpv4(out.address).value_or(0));
    return Err(st);
  }
  return out;
}

uint32_t NetworkStore::FreeFrom(const std::string& network_uuid) {
  std::lock_guard<std::mutex> lock(hint_mu_);
  auto it = free_from_.find(network_uuid);
  return it == free_from_.end() ? 0 : it->second;
}

void NetworkStore::SetFreeFrom(const std::string& network_uuid, uint32_t addr) {
  std::lock_guard<std::mutex> lock(hint_mu_);
  free_from_[network_uuid] = addr;
}

void NetworkStore::LowerFreeFrom(const std::string& network_uuid, uint32_t addr) {
  std::lock_guard<std::mutex> lock(hint_mu_);
  auto it = free_from_.find(network_uuid);
  if (it != free_from_.end() && addr < it->second) it->second = addr;
}

void NetworkStore::Freed(SQLite::Statement& rows) {
  while (rows.executeStep()) {
    auto a = ParseIpv4(rows.getColumn(1).getString());
    if (a) LowerFreeFrom(rows.getColumn(0).getString(), *a);
  }
}

Result<std::vector<IpAllocation>> NetworkStore::ForContainer(const std::string& container_uuid) {
  return db_->Query<IpAllocation>(
      std::string("SELECT ") + kAllocColumns + " FROM ip_allocations WHERE container_uuid = ? ORDER BY rowid",
      AllocFromRow, container_uuid);
}

Status NetworkStore::AddNeutronPort(const std::string& container_uuid, const std::string& port_id,
                                    const std::string& data) {
  auto added = db_->Exec("INSERT OR IGNORE INTO neutron_ports (port_id, container_uuid, data) VALUES (?, ?, ?)",
                         port_id, container_uuid, data);
  if (!added) return added.error();
  if (*added == 0) return Status::Conflict("Port " + port_id + " is plugged into a container already.");
  return Status::Ok();
}

Result<std::vector<std::string>> NetworkStore::NeutronPortsOf(const std::string& container_uuid) {
  return db_->Query<std::string>("SELECT data FROM neutron_ports WHERE container_uuid = ? ORDER BY rowid",
                                 [](SQLite::Statement& q) { return q.getColumn(0).getString(); }, container_uuid);
}

Status NetworkStore::Release(const std::string& port_id) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Statement freed(db, "SELECT network_uuid, address FROM ip_allocations WHERE port_id = ?");
    freed.bind(1, port_id);
    Freed(freed);
    int n = 0;
    for (const char* sql : {"DELETE FROM ip_allocations WHERE port_id = ?", "DELETE FROM neutron_ports WHERE port_id = ?"}) {
      SQLite::Statement q(db, sql);
      q.bind(1, port_id);
      n += q.exec();
    }
    if (n == 0) return Status::NotFound("Port " + port_id + " could not be found.");
    return Status::Ok();
  });
}

Status NetworkStore::ReleaseContainer(const std::string& container_uuid) {
  return db_->Run([&](SQLite::Database& db) {
    SQLite::Statement freed(db, "SELECT network_uuid, address FROM ip_allocations WHERE container_uuid = ?");
    freed.bind(1, container_uuid);
    Freed(freed);
    for (const char* sql : {"DELETE FROM ip_allocations WHERE container_uuid = ?",
                            "DELETE FROM neutron_ports WHERE container_uuid = ?"}) {
      SQLite::Statement q(db, sql);
      q.bind(1, container_uuid);
      q.exec();
    }
    return Status::Ok();
  });
}

}  // namespace zunvm
