// The shim's one job: hold a container's stdio, write its CRI log, record its
// exit, and answer flintd's requests on a unix socket (line-delimited JSON).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shim/child_process.h"
#include "shim/cri_log_writer.h"
#include "shim/oom_watcher.h"
#include "shim/shim_options.h"
#include "shim/status_file.h"

namespace flint::shim {

class ShimServer {
 public:
  explicit ShimServer(ShimOptions options);
  ~ShimServer();
  ShimServer(const ShimServer&) = delete;
  ShimServer& operator=(const ShimServer&) = delete;

  // Must run before any child is spawned: blocks SIGCHLD into a signalfd.
  bool Init(std::string* error);
  // Opens the log, runs `<runtime> create`, records status "created".
  bool CreateContainer(std::string* error);
  bool Listen(std::string* error);
  // Serves requests until `delete`; returns the process exit code.
  int Run();

 private:
  struct Client {
    int fd = -1;
    std::string in;
    std::string out;
    size_t out_offset = 0;  // bytes of `out` already sent
    bool busy = false;  // a deferred (exec) reply is pending
    std::vector<int> fds;  // received with SCM_RIGHTS, owned until an op takes them
    // attach: after the reply the connection carries frames (shim_stream.cc).
    bool attached = false;
    bool close_after_flush = false;
  };
  struct ExecJob {
    int client_id = 0;
    pid_t runtime_pid = -1;
    std::string process_file;
    std::string pid_file;
    int out_fd = -1;
    int err_fd = -1;
    int in_fd = -1;
    std::string out;
    std::string err;
    bool out_truncated = false;
    bool err_truncated = false;
    std::string stdin_data;
    size_t stdin_offset = 0;
    int64_t deadline_ms = 0;  // 0: no timeout
    int64_t hard_kill_ms = 0;
    bool timed_out = false;
    bool runtime_exited = false;
    int runtime_status = 0;
    // tty exec runs detached: the runtime hands over the pty master and exits,
    // and the exec'd process becomes our (subreaper) child.
    bool tty = false;
    std::string console_path;
    int console_listen_fd = -1;
    pid_t process_pid = -1;
    bool process_exited = false;
    int process_status = 0;
    // exec_stream: stdio belongs to flintd (passed fds / the pty master sent back);
    // the reply carries only the exit code; closing the connection kills the process.
    bool streaming = false;
    bool cancelled = false;
  };

  std::vector<std::string> RuntimeCommand(std::initializer_list<std::string> tail) const;
  bool ReceiveConsole(int console_listen_fd, pid_t runtime_pid, int64_t deadline_ms, std::string* error);
  void OnChildExit(pid_t pid, int wait_status);
  ReapCallback Reaper();
  bool WriteStatus();
  void MaybeFinalize(bool force);
  void PumpContainerStream(LogStream stream, int* fd);
  void DrainContainerStreams(int64_t deadline_ms);

  void AcceptClients();
  void ReadClient(int client_id);
  void FlushClient(int client_id);
  void CloseClient(int client_id);
  void Reply(int client_id, const nlohmann::json& reply);
  void ReplyLine(int client_id, std::string_view line);
  void HandleRequest(int client_id, const std::string& line);

  nlohmann::json StatusJson() const;
  nlohmann::json HandleStart();
  nlohmann::json HandleKill(const nlohmann::json& request);
  nlohmann::json HandleReopen();
  nlohmann::json HandleDelete();
  // exec and exec_stream. Returns an error reply, or null when the job was started (reply deferred).
  nlohmann::json StartExec(int client_id, const nlohmann::json& request);
  void PumpExecOutput(ExecJob& job, bool is_stderr);
  void PumpExecInput(ExecJob& job);
  void CheckExecs();
  void KillExecProcess(ExecJob& job);
  void AcceptExecConsole(ExecJob& job);
  // Returns false while the job still runs.
  bool ExecFinished(ExecJob& job);
  void CompleteExec(int exec_id);

  // Streaming ops (shim_stream.cc).
  void SendExecConsole(ExecJob& job, int master);
  nlohmann::json StartAttach(int client_id);
  void HandleAttachFrames(int client_id);
  void FanOutToAttached(LogStream stream, std::string_view data);
  void EndAttachments();
  void FlushAttachStdin();
  int AttachStdinFd() const;
  void OnClientClosed(int client_id);
  bool HasCancelledExecs() const;

  ShimOptions options_;
  CriLogWriter log_;
  OomWatcher oom_;
  ShimStatus status_;
  nlohmann::json process_template_;

  int signal_fd_ = -1;
  int listen_fd_ = -1;
  int stdout_fd_ = -1;  // pty master when tty
  int stderr_fd_ = -1;
  int stdin_fd_ = -1;   // write end kept open so the container's stdin does not hit EOF
  pid_t init_pid_ = -1;
  bool init_exited_ = false;
  int64_t drain_deadline_ms_ = 0;
  bool finalized_ = false;
  bool quit_ = false;

  std::map<int, Client> clients_;
  int next_client_id_ = 1;
  std::map<int, ExecJob> execs_;
  std::string attach_stdin_pending_;  // input from attached clients not yet written to the container
  int next_exec_id_ = 1;
  // Exit statuses of re-parented processes nobody waited for yet (bounded):
  // a detached exec may exit before we learn its pid.
  std::map<pid_t, int> unclaimed_exits_;
};

}  // namespace flint::shim
