#include "flist-snapshotter/cli/flist_cli.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/pack/file_content.h"
#include "flist-snapshotter/pack/v2_writer.h"
#include "flist-snapshotter/store/routed_store.h"
#include "flist-snapshotter/store/store_url.h"
#include "nlohmann/json.hpp"

namespace flint::flist {
namespace {

constexpr char kUsage[] =
    "usage: flist <command> ...\n"
    "  inspect FILE                      show format, counts, size, routes and tags\n"
    "  ls FILE [PATH]                    list a directory like ls -l\n"
    "  cat FILE PATH [--store URL]       write a file's content to stdout\n"
    "  verify FILE [--store URL]         check every block is present and intact\n"
    "  pack SRC OUT.fl --store URL [--route URL | --no-route] [--tag KEY=VALUE]...\n"
    "                                    pack a directory or a tarball into a v2 flist; blocks go to\n"
    "                                    --store, and readers are told to fetch them from --route\n"
    "                                    (default: the --store URL, password removed) or, with\n"
    "                                    --no-route, from the store they are configured with\n"
    "Stores: dir://PATH, http(s)://BASE, zdb://[:PASS@]HOST[:PORT][/NS], redis://[:PASS@]HOST[:PORT][/DB]\n";

struct ParsedArgs {
  std::vector<std::string> positional;
  std::string store;
  std::optional<std::string> route;
  bool no_route = false;
  std::vector<std::string> tags;
  bool help = false;
};

std::optional<ParsedArgs> Parse(const std::vector<std::string>& args, std::ostream& err) {
  ParsedArgs p;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (a == flag) {
        if (i + 1 >= args.size()) {
          err << "flist: " << flag << " needs a value\n";
          return std::nullopt;
        }
        return args[++i];
      }
      return a.substr(flag.size() + 1);  // --flag=value
    };
    if (a == "-h" || a == "--help") {
      p.help = true;
    } else if (a == "--store" || a.starts_with("--store=")) {
      auto v = value("--store");
      if (!v) return std::nullopt;
      p.store = *v;
    } else if (a == "--route" || a.starts_with("--route=")) {
      auto v = value("--route");
      if (!v) return std::nullopt;
      p.route = *v;
    } else if (a == "--no-route") {
      p.no_route = true;
    } else if (a == "--tag" || a.starts_with("--tag=")) {
      auto v = value("--tag");
      if (!v) return std::nullopt;
      p.tags.push_back(*v);
    } else if (a.starts_with("-") && a != "-") {
      err << "flist: unknown flag " << a << "\n";
      return std::nullopt;
    } else {
      p.positional.push_back(a);
    }
  }
  return p;
}

std::string FormatTime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string_view VersionName(FlistVersion v) {
  return v == FlistVersion::kV1 ? "v1 (0-flist .flist)" : "v2 (rfs .fl)";
}

int Fail(std::ostream& err, const absl::Status& s) {
  err << "flist: " << s.message() << "\n";
  return 1;
}

// v1 `backend` metadata is JSON ({"host":..., "port":..., "password":...});
// anything else is treated as a store URL.
std::string RedactBackend(const std::string& value) {
  nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return RedactStoreUrl(value);
  for (const char* secret : {"password", "token"}) {
    auto it = j.find(secret);
    if (it == j.end() || it->is_null() || (it->is_string() && it->get_ref<const std::string&>().empty())) continue;
    *it = "***";
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int Inspect(const ParsedArgs& p, std::ostream& out, std::ostream& err, const FlistCliConfig& config) {
  if (p.positional.size() != 1) {
    err << "usage: flist inspect FILE\n";
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  auto flist = ReadFlistFile(p.positional[0]);
  if (!flist.ok()) return Fail(err, flist.status());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const FlistStats s = flist->Stats();
  out << "file:        " << p.positional[0] << "\n"
      << "format:      " << VersionName(flist->version()) << "\n"
      << "directories: " << s.directories << "\n"
      << "files:       " << s.regular_files << "\n"
      << "symlinks:    " << s.symlinks << "\n"
      << "others:      " << s.others << "\n"
      << "total size:  " << s.regular_bytes << " bytes\n"
      << "blocks:      " << s.blocks << "\n";
  out << "routes:";
  if (flist->routes().empty()) {
    out << "      (none; default store " << (config.default_store.empty() ? "unset" : config.default_store)
        << ")\n";
  } else {
    out << "\n";
    for (const Route& r : flist->routes()) {
      out << absl::StrFormat("  %02x-%02x %s\n", r.start, r.end, RedactStoreUrl(r.url));
    }
  }
  out << (flist->version() == FlistVersion::kV1 ? "metadata:" : "tags:");
  if (flist->tags().empty()) {
    out << " (none)\n";
  } else {
    out << "\n";
    for (const auto& [k, v] : flist->tags()) out << "  " << k << "=" << (k == "backend" ? RedactBackend(v) : v) << "\n";
  }
  out << absl::StrFormat("parsed in:   %.3f s\n", secs);
  return 0;
}

void PrintLong(const Entry& e, std::string_view name, std::ostream& out) {
  std::string size;
  if (e.type == EntryType::kBlockDevice || e.type == EntryType::kCharDevice) {
    size = absl::StrCat(major(e.rdev), ", ", minor(e.rdev));
  } else {
    size = absl::StrCat(e.size);
  }
  out << absl::StrFormat("%s %6u %6u %10s %s %s", ModeString(e.st_mode()), e.uid, e.gid, size,
                         FormatTime(e.mtime), name);
  if (e.type == EntryType::kSymlink) out << " -> " << e.link_target;
  out << "\n";
}

int Ls(const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (p.positional.empty() || p.positional.size() > 2) {
    err << "usage: flist ls FILE [PATH]\n";
    return 2;
  }
  auto flist = ReadFlistFile(p.positional[0]);
  if (!flist.ok()) return Fail(err, flist.status());
  const std::string path = p.positional.size() == 2 ? p.positional[1] : "/";
  const Entry* e = flist->Find(path);
  if (e == nullptr) {
    err << "flist: " << path << ": no such file or directory\n";
    return 1;
  }
  if (e->type != EntryType::kDirectory) {
    PrintLong(*e, e->path, out);
    return 0;
  }
  for (uint32_t child : e->children) {
    const Entry& c = flist->entries()[child];
    PrintLong(c, c.name(), out);
  }
  return 0;
}

int Cat(const ParsedArgs& p, std::ostream& out, std::ostream& err, const FlistCliConfig& config) {
  if (p.positional.size() != 2) {
    err << "usage: flist cat FILE PATH [--store URL]\n";
    return 2;
  }
  auto flist = ReadFlistFile(p.positional[0]);
  if (!flist.ok()) return Fail(err, flist.status());
  const Entry* e = flist->Find(p.positional[1]);
  if (e == nullptr) {
    err << "flist: " << p.positional[1] << ": no such file or directory\n";
    return 1;
  }
  auto store = OpenStoreForFlist(*flist, p.store, config.default_store);
  if (!store.ok()) return Fail(err, store.status());
  if (auto s = WriteFileContent(*flist, *e, **store, out); !s.ok()) return Fail(err, s);
  out.flush();
  return 0;
}

int Verify(const ParsedArgs& p, std::ostream& out, std::ostream& err, const FlistCliConfig& config) {
  if (p.positional.size() != 1) {
    err << "usage: flist verify FILE [--store URL]\n";
    return 2;
  }
  auto flist = ReadFlistFile(p.positional[0]);
  if (!flist.ok()) return Fail(err, flist.status());
  auto store = OpenStoreForFlist(*flist, p.store, config.default_store);
  if (!store.ok()) return Fail(err, store.status());
  auto report = VerifyFlistBlocks(*flist, **store);
  if (!report.ok()) return Fail(err, report.status());
  for (const std::string& line : report->problems) out << line << "\n";
  out << "store:      " << (*store)->Describe() << "\n"
      << "files:      " << report->files << "\n"
      << "blocks:     " << report->unique_blocks << " unique\n"
      << "missing:    " << report->missing << "\n"
      << "corrupt:    " << report->corrupt << "\n"
      << "incomplete: " << report->incomplete_files << " files\n"
      << "misaligned: " << report->misaligned_files << " files\n"
      << (report->ok() ? "OK\n" : "FAILED\n");
  return report->ok() ? 0 : 1;
}

int Pack(const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (p.positional.size() != 2 || p.store.empty() || (p.route.has_value() && p.no_route)) {
    err << "usage: flist pack SRC_DIR|TARBALL OUT.fl --store URL [--route URL | --no-route] [--tag KEY=VALUE]...\n";
    return 2;
  }
  PackOptions options;
  for (const std::string& t : p.tags) {
    const size_t eq = t.find('=');
    if (eq == std::string::npos || eq == 0) {
      err << "flist: --tag wants KEY=VALUE, got \"" << t << "\"\n";
      return 2;
    }
    options.tags[t.substr(0, eq)] = t.substr(eq + 1);
  }
  auto store = OpenBlockStore(p.store);
  if (!store.ok()) return Fail(err, store.status());
  if (p.route.has_value()) {
    // Checked like the store, so a typo fails here and not on every node that mounts the flist.
    if (auto route = OpenBlockStore(*p.route); !route.ok()) {
      return Fail(err, absl::Status(route.status().code(), absl::StrCat("--route: ", route.status().message())));
    }
    options.routes.push_back(Route{0, 255, *p.route});
  } else if (!p.no_route) {
    options.routes.push_back(Route{0, 255, RedactStoreUrl(p.store)});
  }
  struct stat st {};
  if (stat(p.positional[0].c_str(), &st) != 0) {
    err << "flist: " << p.positional[0] << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  auto stats = S_ISDIR(st.st_mode) ? PackDirectory(p.positional[0], p.positional[1], **store, options)
                                   : PackTarball(p.positional[0], p.positional[1], **store, options);
  if (!stats.ok()) return Fail(err, stats.status());
  out << "packed " << p.positional[1] << ": " << stats->directories << " dirs, " << stats->regular_files
      << " files (" << stats->bytes << " bytes), " << stats->symlinks << " symlinks, " << stats->others
      << " others; " << stats->blocks << " blocks, " << stats->blocks_uploaded << " uploaded to "
      << (*store)->Describe() << "\n";
  return 0;
}

}  // namespace

std::string ModeString(unsigned int m) {
  std::string s(10, '-');
  switch (m & S_IFMT) {
    case S_IFDIR: s[0] = 'd'; break;
    case S_IFLNK: s[0] = 'l'; break;
    case S_IFBLK: s[0] = 'b'; break;
    case S_IFCHR: s[0] = 'c'; break;
    case S_IFIFO: s[0] = 'p'; break;
    case S_IFSOCK: s[0] = 's'; break;
    default: break;
  }
  const char rwx[] = "rwx";
  for (int i = 0; i < 9; ++i) {
    if (m & (0400u >> i)) s[1 + i] = rwx[i % 3];
  }
  auto special = [&](int pos, unsigned bit, char on_exec, char off_exec) {
    if (m & bit) s[pos] = s[pos] == 'x' ? on_exec : off_exec;
  };
  special(3, S_ISUID, 's', 'S');
  special(6, S_ISGID, 's', 'S');
  special(9, S_ISVTX, 't', 'T');
  return s;
}

int RunFlistCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                    const FlistCliConfig& config) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  auto parsed = Parse(args, err);
  if (!parsed) return 2;
  if (parsed->help) {
    out << kUsage;
    return 0;
  }
  const std::string& cmd = args[0];
  if (cmd == "inspect") return Inspect(*parsed, out, err, config);
  if (cmd == "ls") return Ls(*parsed, out, err);
  if (cmd == "cat") return Cat(*parsed, out, err, config);
  if (cmd == "verify") return Verify(*parsed, out, err, config);
  if (cmd == "pack") return Pack(*parsed, out, err);
  err << "flist: unknown command \"" << cmd << "\"\n" << kUsage;
  return 2;
}

}  // namespace flint::flist
