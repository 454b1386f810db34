#include "flist-snapshotter/store/resp_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/percent_encoding.h"
#include "flist-snapshotter/block/blake2b.h"

namespace flint::flist {
namespace {

absl::Status ReplyError(std::string_view what, const RespReply& r) {
  return absl::FailedPreconditionError(absl::StrCat(std::string(what), ": ", r.str));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RespStore>> RespStore::Open(std::string_view url,
                                                           std::chrono::milliseconds timeout,
                                                           size_t max_connections,
                                                           std::chrono::milliseconds reply_timeout) {
  if (max_connections == 0) return absl::InvalidArgumentError("resp store: max_connections must be positive");
  auto parsed = ParseStoreUrl(url);
  if (!parsed.ok()) return parsed.status();
  if (parsed->scheme != "zdb" && parsed->scheme != "redis") {
    return absl::InvalidArgumentError(absl::StrCat("not a zdb:// or redis:// URL: ", parsed->Redacted()));
  }
  if (parsed->host.empty()) return absl::InvalidArgumentError(absl::StrCat(parsed->Redacted(), ": no host"));
  if (parsed->port == 0) parsed->port = parsed->scheme == "zdb" ? 9900 : 6379;
  if (parsed->scheme == "redis" && parsed->path.size() > 1) {
    int db = 0;
    if (!absl::SimpleAtoi(parsed->path.substr(1), &db) || db < 0) {
      return absl::InvalidArgumentError(absl::StrCat(parsed->Redacted(), ": database must be a number"));
    }
  }
  return std::unique_ptr<RespStore>(new RespStore(*std::move(parsed), timeout, max_connections, reply_timeout));
}

absl::StatusOr<std::unique_ptr<RespConnection>> RespStore::Connect() {
  auto conn = RespConnection::Connect(url_.host, url_.port, timeout_, reply_timeout_);
  if (!conn.ok()) return conn.status();
  // Percent-encoded like the password (V1BackendUrl); a redis path is a database number.
  const std::string ns = url_.path.size() > 1 ? PercentDecode(url_.path.substr(1)) : "";
  if (url_.scheme == "zdb" && !ns.empty() && ns != "default") {
    std::vector<std::string_view> args = {"SELECT", ns};
    if (!url_.password.empty()) args.push_back(url_.password);
    auto r = (*conn)->Command(args);
    if (!r.ok()) return r.status();
    if (r->type == RespReply::Type::kError) return ReplyError(absl::StrCat("SELECT ", ns), *r);
  } else {
    if (!url_.password.empty()) {
      std::vector<std::string_view> args = {"AUTH"};
      if (!url_.user.empty()) args.push_back(url_.user);
      args.push_back(url_.password);
      auto r = (*conn)->Command(args);
      if (!r.ok()) return r.status();
      if (r->type == RespReply::Type::kError) return ReplyError("AUTH", *r);
    }
    if (url_.scheme == "redis" && !ns.empty()) {
      auto r = (*conn)->Command({"SELECT", ns});
      if (!r.ok()) return r.status();
      if (r->type == RespReply::Type::kError) return ReplyError(absl::StrCat("SELECT ", ns), *r);
    }
  }
  return conn;
}

absl::StatusOr<std::unique_ptr<RespConnection>> RespStore::Checkout() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (idle_.empty() && open_ >= max_connections_) {
    if (returned_cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= max_connections_) {
      return absl::UnavailableError(
          absl::StrCat("all ", max_connections_, " connections busy for ", timeout_.count(), " ms"));
    }
  }
  if (!idle_.empty()) {
    std::unique_ptr<RespConnection> conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }
  ++open_;
  lock.unlock();  // connecting may take up to the timeout; others use the idle ones meanwhile
  auto conn = Connect();
  if (!conn.ok()) {
    lock.lock();
    --open_;
    returned_cv_.notify_one();
  }
  return conn;
}

void RespStore::Return(std::unique_ptr<RespConnection> conn) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(conn));
  returned_cv_.notify_one();
}

void RespStore::Discard() {
  std::lock_guard<std::mutex> lock(mu_);
  open_ -= 1 + idle_.size();
  idle_.clear();
  returned_cv_.notify_all();
}

absl::StatusOr<RespReply> RespStore::Run(const std::vector<std::string_view>& args) {
  absl::Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto conn = Checkout();
    if (!conn.ok()) {
      last = conn.status();
      if (!absl::IsUnavailable(last)) break;
      continue;
    }
    auto r = (*conn)->Command(args);
    if (r.ok()) {
      Return(*std::move(conn));
      return r;
    }
    conn->reset();  // the stream may be out of sync; start over
    Discard();
    last = r.status();
    if (absl::IsDeadlineExceeded(last)) break;
  }
  return absl::Status(last.code(), absl::StrCat(Describe(), ": ", last.message()));
}

absl::StatusOr<std::string> RespStore::Get(std::string_view id) {
  auto r = Run({"GET", id});
  if (!r.ok()) return r.status();
  switch (r->type) {
    case RespReply::Type::kBulk: return std::move(r->str);
    case RespReply::Type::kNil:
      return absl::NotFoundError(absl::StrCat("block ", HexEncode(id), " not in ", Describe()));
    case RespReply::Type::kError: return ReplyError(absl::StrCat(Describe(), ": GET"), *r);
    default: return absl::DataLossError(absl::StrCat(Describe(), ": GET: unexpected reply"));
  }
}

absl::StatusOr<bool> RespStore::Exists(std::string_view id) {
  auto r = Run({"EXISTS", id});
  if (!r.ok()) return r.status();
  if (r->type == RespReply::Type::kError) return ReplyError(absl::StrCat(Describe(), ": EXISTS"), *r);
  if (r->type != RespReply::Type::kInteger) return absl::DataLossError(absl::StrCat(Describe(), ": EXISTS: unexpected reply"));
  return r->integer > 0;
}

absl::Status RespStore::Put(std::string_view id, std::string_view data) {
  // Redis answers +OK; 0-db echoes the key, or nil when the value is unchanged.
  auto r = Run({"SET", id, data});
  if (!r.ok()) return r.status();
  if (r->type == RespReply::Type::kError) return ReplyError(absl::StrCat(Describe(), ": SET"), *r);
  return absl::OkStatus();
}

}  // namespace flint::flist
