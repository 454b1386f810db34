#include "flist-snapshotter/fuse/flist_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "flist-snapshotter/pack/file_content.h"

namespace flint::flist {
namespace {

FlistFs* Self(fuse_req_t req) { return static_cast<FlistFs*>(fuse_req_userdata(req)); }

}  // namespace

// Trampolines from the C callback table to the FlistFs methods.
struct FlistFsOps {
  static void Init(void* userdata, fuse_conn_info* conn) {
    auto* self = static_cast<FlistFs*>(userdata);
    {
      std::lock_guard<std::mutex> lock(self->init_mu_);
      self->proto_minor_ = conn->proto_minor;
    }
    self->init_cv_.notify_all();
    // Cached reads are spliced from the segment files straight into the FUSE device.
    if (self->options_.splice_reads && (conn->capable & FUSE_CAP_SPLICE_WRITE)) {
      conn->want |= FUSE_CAP_SPLICE_WRITE;
      // libfuse derives the largest request (reads too) from max_write. One
      // block per request: a reply then fits the 1 MiB pipe an unprivileged
      // splice can have, and maps to a single cache file.
      conn->max_write = std::min<unsigned>(conn->max_write, kBlockSize);
    }
    // Targets never change: let the kernel keep them in its page cache.
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  }
  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) { Self(req)->Lookup(req, parent, name); }
  static void Forget(fuse_req_t req, fuse_ino_t, uint64_t) { fuse_reply_none(req); }
  static void ForgetMulti(fuse_req_t req, size_t, fuse_forget_data*) { fuse_reply_none(req); }
  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) { Self(req)->GetAttr(req, ino); }
  static void ReadLink(fuse_req_t req, fuse_ino_t ino) { Self(req)->ReadLink(req, ino); }
  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) { Self(req)->Open(req, ino, fi); }
  static void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    Self(req)->Read(req, ino, size, off, fi);
  }
  static void Release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) { Self(req)->Release(req, fi); }
  static void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) { Self(req)->OpenDir(req, ino, fi); }
  static void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    Self(req)->ReadDir(req, ino, size, off, /*plus=*/false);
  }
  static void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    Self(req)->ReadDir(req, ino, size, off, /*plus=*/true);
  }
  static void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }
  static void StatFs(fuse_req_t req, fuse_ino_t) { Self(req)->StatFs(req); }
  static void Access(fuse_req_t req, fuse_ino_t ino, int mask) { Self(req)->Access(req, ino, mask); }
  static void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }
  static void Fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); }

  // Everything that would change the tree: the filesystem is read-only.
  static void SetAttr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) { fuse_reply_err(req, EROFS); }
  static void MkNod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EROFS); }
  static void MkDir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EROFS); }
  static void Unlink(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
  static void SymLink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
  static void Rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned int) {
    fuse_reply_err(req, EROFS);
  }
  static void Link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
  static void Write(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) {
    fuse_reply_err(req, EROFS);
  }
  static void SetXattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
    fuse_reply_err(req, EROFS);
  }
  static void RemoveXattr(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
  static void Create(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) {
    fuse_reply_err(req, EROFS);
  }

  static fuse_lowlevel_ops Make() {
    fuse_lowlevel_ops ops{};
    ops.init = Init;
    ops.lookup = Lookup;
    ops.forget = Forget;
    ops.forget_multi = ForgetMulti;
    ops.getattr = GetAttr;
    ops.readlink = ReadLink;
    ops.open = Open;
    ops.read = Read;
    ops.release = Release;
    ops.opendir = OpenDir;
    ops.readdir = ReadDir;
    ops.readdirplus = ReadDirPlus;
    ops.releasedir = ReleaseDir;
    ops.statfs = StatFs;
    ops.access = Access;
    // No getxattr/listxattr: flists carry no xattrs, and the ENOSYS libfuse
    // answers makes the kernel stop asking (EOPNOTSUPP from then on, which
    // overlayfs and exec's capability check read as "none"). Answering
    // ENODATA instead cost a round trip to this process for every xattr probe:
    // overlayfs copy-ups while the runtime creates a container, and every exec.
    ops.flush = Flush;
    ops.fsync = Fsync;
    ops.setattr = SetAttr;
    ops.mknod = MkNod;
    ops.mkdir = MkDir;
    ops.unlink = Unlink;
    ops.rmdir = Unlink;
    ops.symlink = SymLink;
    ops.rename = Rename;
    ops.link = Link;
    ops.write = Write;
    ops.setxattr = SetXattr;
    ops.removexattr = RemoveXattr;
    ops.create = Create;
    return ops;
  }
};

const fuse_lowlevel_ops& FlistFs::Ops() {
  static const fuse_lowlevel_ops ops = FlistFsOps::Make();
  return ops;
}

FlistFs::FlistFs(std::shared_ptr<const Flist> flist, BlockCache* cache, BlockStore* store,
                 FlistFsOptions options)
    : flist_(std::move(flist)),
      cache_(cache),
      store_(store),
      options_(options),
      format_(BlockFormatOf(*flist_)),
      next_handle_(static_cast<uint64_t>(getpid()) << 32 | 1),
      prefetcher_(options.prefetch_blocks > 0 || options.open_prefetch_blocks > 0 ? options.prefetch_threads : 0, options.prefetch_queue) {
  const auto& entries = flist_->entries();
  parent_.assign(entries.size(), 0);
  nlink_.assign(entries.size(), 1);
  for (uint32_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.type == EntryType::kRegular) total_bytes_ += e.size;
    if (e.type != EntryType::kDirectory) continue;
    nlink_[i] = 2;
    for (uint32_t child : e.children) {
      parent_[child] = i;
      if (entries[child].type == EntryType::kDirectory) ++nlink_[i];
    }
  }
  if (options_.open_prefetch_blocks > 0) {
    for (const std::string& path : options_.warm_paths) {
      const Entry* e = flist_->Resolve(path);
      if (e == nullptr || e->type != EntryType::kRegular || e->blocks.empty()) continue;
      const int64_t first_blocks = std::min<int64_t>(options_.open_prefetch_blocks, static_cast<int64_t>(e->blocks.size()));
      SchedulePrefetch(*e, 0, first_blocks - 1);
    }
  }
}

FlistFs::~FlistFs() { prefetcher_.Stop(); }

unsigned FlistFs::WaitForInit(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock(init_mu_);
  init_cv_.wait_for(lock, limit, [&] { return proto_minor_ != 0; });
  return proto_minor_;
}

FlistFs::OpenFile* FlistFs::FindOpenFile(uint64_t handle) {
  std::lock_guard<std::mutex> lock(open_mu_);
  auto it = open_files_.find(handle);
  return it == open_files_.end() ? nullptr : it->second.get();
}

const Entry* FlistFs::EntryOf(fuse_ino_t ino) const {
  if (ino < 1 || ino > flist_->entries().size()) return nullptr;
  return &flist_->entries()[ino - 1];
}

struct stat FlistFs::Attr(uint32_t index) const {
  const Entry& e = flist_->entries()[index];
  struct stat st {};
  st.st_ino = index + 1;
  st.st_mode = e.st_mode();
  st.st_nlink = nlink_[index];
  st.st_uid = e.uid;
  st.st_gid = e.gid;
  st.st_rdev = static_cast<dev_t>(e.rdev);
  switch (e.type) {
    case EntryType::kRegular: st.st_size = static_cast<off_t>(e.size); break;
    case EntryType::kSymlink: st.st_size = static_cast<off_t>(e.link_target.size()); break;
    case EntryType::kDirectory: st.st_size = 4096; break;
    default: st.st_size = 0; break;
  }
  st.st_blksize = 4096;
  st.st_blocks = (st.st_size + 511) / 512;
  st.st_mtim.tv_sec = e.mtime;
  st.st_ctim.tv_sec = e.mtime;
  st.st_atim.tv_sec = e.mtime;
  return st;
}

void FlistFs::FillEntry(uint32_t index, fuse_entry_param* e) const {
  *e = fuse_entry_param{};
  e->ino = index + 1;
  e->generation = 1;
  e->attr = Attr(index);
  e->attr_timeout = options_.attr_timeout_seconds;
  e->entry_timeout = options_.attr_timeout_seconds;
}

void FlistFs::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const Entry* dir = EntryOf(parent);
  if (dir == nullptr) return (void)fuse_reply_err(req, ENOENT);
  if (dir->type != EntryType::kDirectory) return (void)fuse_reply_err(req, ENOTDIR);
  const auto& entries = flist_->entries();
  const std::string_view wanted(name);
  // Children are sorted by name (FlistBuilder::Finish).
  auto it = std::lower_bound(dir->children.begin(), dir->children.end(), wanted,
                             [&](uint32_t idx, std::string_view n) { return entries[idx].name() < n; });
  fuse_entry_param e{};
  if (it == dir->children.end() || entries[*it].name() != wanted) {
    // A negative entry the kernel may cache as long as positive ones.
    e.ino = 0;
    e.entry_timeout = options_.attr_timeout_seconds;
    fuse_reply_entry(req, &e);
    return;
  }
  FillEntry(*it, &e);
  fuse_reply_entry(req, &e);
}

void FlistFs::GetAttr(fuse_req_t req, fuse_ino_t ino) {
  if (EntryOf(ino) == nullptr) return (void)fuse_reply_err(req, ENOENT);
  const struct stat st = Attr(static_cast<uint32_t>(ino - 1));
  fuse_reply_attr(req, &st, options_.attr_timeout_seconds);
}

void FlistFs::ReadLink(fuse_req_t req, fuse_ino_t ino) {
  const Entry* e = EntryOf(ino);
  if (e == nullptr) return (void)fuse_reply_err(req, ENOENT);
  if (e->type != EntryType::kSymlink) return (void)fuse_reply_err(req, EINVAL);
  fuse_reply_readlink(req, e->link_target.c_str());
}

void FlistFs::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const Entry* e = EntryOf(ino);
  if (e == nullptr) return (void)fuse_reply_err(req, ENOENT);
  if (e->type == EntryType::kDirectory) return (void)fuse_reply_err(req, EISDIR);
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) != 0) return (void)fuse_reply_err(req, EROFS);
  auto file = std::make_unique<OpenFile>();
  file->index = static_cast<uint32_t>(ino - 1);
  const int64_t first_blocks = std::min<int64_t>(options_.open_prefetch_blocks, static_cast<int64_t>(e->blocks.size()));
  if (first_blocks > 0 && options_.prefetch_threads > 0) {
    file->prefetched_upto = first_blocks - 1;
    SchedulePrefetch(*e, 0, first_blocks - 1);
  }
  uint64_t handle = 0;
  {
    std::lock_guard<std::mutex> lock(open_mu_);
    handle = next_handle_++;
    open_files_.emplace(handle, std::move(file));
  }
  fi->fh = handle;
  fi->keep_cache = 1;  // content is immutable: keep the page cache across opens
  fi->direct_io = 0;
  if (fuse_reply_open(req, fi) != 0) {  // interrupted: no release will come
    std::lock_guard<std::mutex> lock(open_mu_);
    open_files_.erase(handle);
  }
}

void FlistFs::Release(fuse_req_t req, fuse_file_info* fi) {
  {
    std::lock_guard<std::mutex> lock(open_mu_);
    open_files_.erase(fi->fh);  // not ours (a takeover's predecessor opened it): nothing to free
  }
  fuse_reply_err(req, 0);
}

void FlistFs::Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  const Entry* e = EntryOf(ino);
  if (e == nullptr || e->type != EntryType::kRegular || off < 0) return (void)fuse_reply_err(req, EINVAL);
  ++reads_;
  const uint64_t offset = static_cast<uint64_t>(off);
  if (offset >= e->size || size == 0) return (void)fuse_reply_buf(req, nullptr, 0);
  const size_t want = static_cast<size_t>(std::min<uint64_t>(size, e->size - offset));
  // The kernel sends no release while a read is in flight, so the handle outlives this read.
  if (OpenFile* file = fi != nullptr ? FindOpenFile(fi->fh) : nullptr; file != nullptr) {
    MaybePrefetch(*file, *e, offset, want);
  }
  if (options_.splice_reads && ReplyFromCacheFiles(req, *e, offset, want)) return;

  std::unique_ptr<char[]> buf(new char[want]);
  size_t done = 0;
  while (done < want) {
    const uint64_t pos = offset + done;
    const uint64_t block = pos / kBlockSize;
    if (block >= e->blocks.size()) {
      FLINT_LOG(ERROR) << "flist read " << e->path << ": offset " << pos << " has no block (file lists "
                       << e->blocks.size() << ")";
      ++read_errors_;
      return (void)fuse_reply_err(req, EIO);
    }
    // Never past the block's 512 KiB slot: a block that decodes longer (a malformed flist) must not
    // serve its extra bytes as the next block's; one that decodes shorter ends in EIO below.
    const size_t in_slot = std::min<size_t>(want - done, kBlockSize - pos % kBlockSize);
    auto n = cache_->ReadBlock(e->blocks[block], format_, *store_, pos % kBlockSize, buf.get() + done, in_slot);
    if (!n.ok() || *n == 0) {
      ++read_errors_;
      if (uint64_t held_back = 0; read_error_log_.Allow(e->blocks[block].id, RepeatLimiter::Clock::now(), &held_back)) {
        FLINT_LOG(ERROR) << "flist read " << e->path << " block " << block << ": "
                         << (n.ok() ? std::string("block shorter than expected") : n.status().ToString())
                         << (held_back > 0 ? absl::StrCat(" (", held_back, " more failed reads of it not logged)") : "");
      }
      return (void)fuse_reply_err(req, EIO);
    }
    done += *n;
  }
  bytes_read_ += done;
  fuse_reply_buf(req, buf.get(), done);
}

bool FlistFs::ReplyFromCacheFiles(fuse_req_t req, const Entry& e, uint64_t offset, size_t want) {
  const uint64_t first = offset / kBlockSize;
  const uint64_t last = (offset + want - 1) / kBlockSize;
  if (last >= e.blocks.size() || last - first >= 64) return false;
  const size_t count = static_cast<size_t>(last - first + 1);
  // fuse_bufvec ends in a one-element array: room for `count` buffers.
  std::vector<char> storage(sizeof(fuse_bufvec) + (count - 1) * sizeof(fuse_buf));
  auto* bufv = reinterpret_cast<fuse_bufvec*>(storage.data());
  *bufv = FUSE_BUFVEC_INIT(0);
  bufv->count = 0;
  std::vector<int> fds;
  fds.reserve(count);
  auto close_all = [&] {
    for (int fd : fds) close(fd);
  };
  size_t done = 0;
  while (done < want) {
    const uint64_t pos = offset + done;
    auto range = cache_->OpenCachedRange(e.blocks[pos / kBlockSize], pos % kBlockSize,
                                         std::min<size_t>(want - done, kBlockSize - pos % kBlockSize));
    if (!range.ok() || range->len == 0) {
      if (range.ok()) close(range->fd);
      close_all();
      return false;  // a miss (or a short block): the copying path fetches and reports
    }
    fds.push_back(range->fd);
    fuse_buf& b = bufv->buf[bufv->count++];
    b = fuse_buf{};
    b.size = range->len;
    b.flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    b.fd = range->fd;
    b.pos = static_cast<off_t>(range->file_offset);
    done += range->len;
  }
  bytes_read_ += done;
  fuse_reply_data(req, bufv, static_cast<fuse_buf_copy_flags>(0));
  close_all();
  return true;
}

namespace {
int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

int64_t FlistFs::FetchAhead(const OpenFile& file, int64_t now_micros, int64_t window) const {
  const auto fetch_micros = static_cast<int64_t>(cache_->recent_fetch_micros());
  const int64_t elapsed = now_micros - file.run_start_micros;
  const uint64_t bytes = file.run_end_byte - file.run_start_byte;
  if (fetch_micros == 0 || elapsed <= 0 || bytes == 0) return window;
  const int64_t micros_per_block =
      std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(elapsed) * kBlockSize / static_cast<double>(bytes)));
  const int64_t needed = 1 + (fetch_micros + micros_per_block - 1) / micros_per_block;
  return std::min(window, needed);
}

void FlistFs::MaybePrefetch(OpenFile& file, const Entry& entry, uint64_t offset, size_t size) {
  if (options_.prefetch_blocks <= 0) return;
  const int64_t first = static_cast<int64_t>(offset / kBlockSize);
  const int64_t last = static_cast<int64_t>((offset + size - 1) / kBlockSize);
  const int64_t now = SteadyMicros();
  int64_t from = 0;
  int64_t to = 0;
  int64_t fetch_to = 0;
  {
    std::lock_guard<std::mutex> lock(file.mu);
    // Sequential: this read starts in the block the previous one ended in or
    // the next one (the first read of a handle counts when it starts at 0).
    // The kernel splits one read into several requests that FUSE threads may
    // serve out of order, so a start one block behind still counts.
    const bool sequential = first == file.last_block + 1 ||
                            (file.last_block >= 0 && first >= file.last_block - 1 && first <= file.last_block);
    const int64_t furthest = std::max(file.last_block, last);
    file.last_block = furthest;
    if (!sequential || file.run_start_micros == 0) {  // a new run starts here
      file.run_start_byte = offset;
      file.run_start_micros = now;
      file.run_end_byte = offset;
    }
    file.run_end_byte = std::max<uint64_t>(file.run_end_byte, offset + size);
    if (!sequential) {
      file.window = 0;
      return;
    }
    file.window = file.window == 0 ? std::min<int64_t>(2, options_.prefetch_blocks)
                                   : std::min<int64_t>(file.window * 2, options_.prefetch_blocks);
    from = std::max(furthest + 1, file.prefetched_upto + 1);
    to = std::min<int64_t>(furthest + file.window, static_cast<int64_t>(entry.blocks.size()) - 1);
    fetch_to = furthest + FetchAhead(file, now, file.window);
    if (from > to) return;
    file.prefetched_upto = to;
  }
  const int64_t handled = SchedulePrefetch(entry, from, to, fetch_to);
  if (handled < to) {
    std::lock_guard<std::mutex> lock(file.mu);
    // The rest waits for later reads (unless another read moved on meanwhile).
    if (file.prefetched_upto == to) file.prefetched_upto = handled;
  }
}

int64_t FlistFs::SchedulePrefetch(const Entry& entry, int64_t from, int64_t to, int64_t fetch_to) {
  for (int64_t b = from; b <= to; ++b) {
    const BlockRef& ref = entry.blocks[static_cast<size_t>(b)];
    if (cache_->Contains(ref.id)) continue;
    if (b > fetch_to) return b - 1;
    {
      std::lock_guard<std::mutex> lock(prefetch_mu_);
      if (!prefetch_inflight_.insert(ref.id).second) continue;
    }
    // `ref` lives in the flist, which outlives the prefetcher (see ~FlistFs).
    const bool queued = prefetcher_.Submit([this, &ref] {
      if (auto s = cache_->Prefetch(ref, format_, *store_); !s.ok()) {
        ++prefetch_errors_;
        if (uint64_t held_back = 0; prefetch_error_log_.Allow(ref.id, RepeatLimiter::Clock::now(), &held_back)) {
          FLINT_LOG(WARN) << "flist prefetch: " << s.message()
                          << (held_back > 0 ? absl::StrCat(" (", held_back, " more failed prefetches of it not logged)") : "");
        }
      }
      std::lock_guard<std::mutex> lock(prefetch_mu_);
      prefetch_inflight_.erase(ref.id);
    });
    if (queued) {
      ++prefetch_scheduled_;
    } else {
      std::lock_guard<std::mutex> lock(prefetch_mu_);
      prefetch_inflight_.erase(ref.id);
    }
  }
  return to;
}

void FlistFs::OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const Entry* e = EntryOf(ino);
  if (e == nullptr) return (void)fuse_reply_err(req, ENOENT);
  if (e->type != EntryType::kDirectory) return (void)fuse_reply_err(req, ENOTDIR);
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void FlistFs::ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  const Entry* dir = EntryOf(ino);
  if (dir == nullptr) return (void)fuse_reply_err(req, ENOENT);
  if (dir->type != EntryType::kDirectory) return (void)fuse_reply_err(req, ENOTDIR);
  const auto index = static_cast<uint32_t>(ino - 1);
  std::unique_ptr<char[]> buf(new char[size]);
  size_t used = 0;
  // Offsets: 0 ".", 1 "..", 2+i child i. Each entry carries the offset of the next.
  for (size_t pos = static_cast<size_t>(std::max<off_t>(off, 0)); pos < dir->children.size() + 2; ++pos) {
    uint32_t target;
    std::string name;
    if (pos == 0) {
      target = index;
      name = ".";
    } else if (pos == 1) {
      target = parent_[index];
      name = "..";
    } else {
      target = dir->children[pos - 2];
      name = std::string(flist_->entries()[target].name());
    }
    size_t need;
    if (plus) {
      fuse_entry_param e{};
      if (pos < 2) {
        // The kernel does not create dentries for dot entries; no lookup is counted.
        e.attr = Attr(target);
      } else {
        FillEntry(target, &e);
      }
      need = fuse_add_direntry_plus(req, buf.get() + used, size - used, name.c_str(), &e,
                                    static_cast<off_t>(pos + 1));
    } else {
      const struct stat st = Attr(target);
      need = fuse_add_direntry(req, buf.get() + used, size - used, name.c_str(), &st,
                               static_cast<off_t>(pos + 1));
    }
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.get(), used);
}

void FlistFs::StatFs(fuse_req_t req) {
  struct statvfs st {};
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_blocks = (total_bytes_ + 4095) / 4096;
  st.f_files = flist_->entries().size();
  st.f_namemax = 255;
  st.f_flag = ST_RDONLY;
  fuse_reply_statfs(req, &st);
}

void FlistFs::Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  if (EntryOf(ino) == nullptr) return (void)fuse_reply_err(req, ENOENT);
  fuse_reply_err(req, (mask & W_OK) != 0 ? EROFS : 0);
}

FlistFsStats FlistFs::stats() const {
  FlistFsStats s;
  s.reads = reads_;
  s.bytes_read = bytes_read_;
  s.read_errors = read_errors_;
  s.prefetch_scheduled = prefetch_scheduled_;
  s.prefetch_errors = prefetch_errors_;
  return s;
}

}  // namespace flint::flist
