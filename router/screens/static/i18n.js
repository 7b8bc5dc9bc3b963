/* The screens' words in English and Chinese. FD.t("key", {n: 3}) fills {n}; an element with
   data-i18n="key" gets its text, data-i18n-ph="key" its placeholder. */
(function () {
  "use strict";
  var words = {
    en: {
      lang_switch: "中文", sign_in: "Sign in", sign_out: "Sign out",
      token: "API token", token_ph: "fdt_…", desk_title: "Agent desk", wall_title: "Supervisor wall",
      signin_desk: "Sign in with your agent token.", signin_wall: "Sign in with a supervisor token.",
      session_over: "Your session is over; sign in again.",
      available: "Available", away: "Away", offline: "Offline", go_available: "Go available",
      go_away: "Go away", reason: "Reason", reason_lunch: "Lunch", reason_break: "Break",
      reason_meeting: "Meeting", reason_training: "Training",
      offers: "Offers", my_work: "My requests", no_offers: "No offers right now.",
      no_work: "Nothing in hand.", accept: "Accept", reject: "Reject", seconds_left: "{n} s left",
      pick_request: "Pick a request on the left, or go available to get offers.",
      reply_ph: "Reply to the customer (Ctrl+Enter sends)", send: "Send",
      complete: "Complete", resolution: "Resolution", wrap_up: "Wrap-up (s)",
      transfer: "Transfer", to_queue: "To queue", to_agent: "Or to agent",
      escalate: "Escalate", note: "Note", pending: "Wait on customer", resume: "Resume",
      milestone: "Milestone", target: "Target", mark_done: "Mark done", do_it: "Do it",
      customer: "Customer", other_requests: "Other requests", none: "None",
      sla: "Service level", no_sla: "No service-level clocks.", breached: "breached",
      met: "met", paused: "paused", left: "left", overdue: "overdue",
      shortcuts: "Shortcuts", k_accept: "accept the first offer", k_reject: "reject it",
      k_send: "send the reply", k_next: "next / previous request",
      capacity_of: "{load} of {cap}", load: "Load", connected: "Live", reconnecting: "Reconnecting…",
      gone_expired: "The offer of {id} expired.", gone_rejected: "{id} was handed back.",
      gone_completed: "{id} is completed.", gone_transferred: "{id} was transferred.",
      gone_escalated: "{id} was escalated.", gone_abandoned: "The customer left {id}.",
      gone_requeued: "{id} went back to its queue.",
      queues: "Queues", queue: "Queue", waiting: "Waiting", oldest: "Oldest wait",
      at_risk: "SLA at risk", service_level: "Service level (1 h, ≤{s} s)",
      agents: "Agents", agent: "Agent", presence: "Presence", in_state: "In state",
      work_now: "Current work", actions: "Actions", events: "Breaches and warnings",
      no_events: "None yet.", set_away: "Set away", capacity: "Capacity", assign: "Assign",
      request_id: "Request", apply: "Apply", cancel: "Cancel", busy: "busy",
      total_waiting: "Waiting", total_available: "Available agents", total_busy: "Busy agents",
      total_risk: "At risk", ev_warning: "Warning", ev_breached: "Breached",
      partial: "(partial)", failed: "Refused: {m}", request: "Request", state: "State",
      offered: "offered", assigned: "assigned", pending_customer: "waiting on customer",
      completed: "completed", abandoned: "abandoned", waiting_state: "waiting",
      name: "Name", email: "Email", phone: "Phone",
    },
    zh: {
      lang_switch: "English", sign_in: "登录", sign_out: "退出",
      token: "API 令牌", token_ph: "fdt_…", desk_title: "坐席工作台", wall_title: "班长监控墙",
      signin_desk: "请用您的坐席令牌登录。", signin_wall: "请用班长令牌登录。",
      session_over: "会话已结束，请重新登录。",
      available: "空闲", away: "离开", offline: "离线", go_available: "置为空闲",
      go_away: "暂离", reason: "原因", reason_lunch: "午餐", reason_break: "休息",
      reason_meeting: "开会", reason_training: "培训",
      offers: "待接请求", my_work: "我的请求", no_offers: "暂无待接请求。",
      no_work: "手上没有请求。", accept: "接受", reject: "拒绝", seconds_left: "剩 {n} 秒",
      pick_request: "在左侧选择一个请求，或置为空闲以接收请求。",
      reply_ph: "回复客户（Ctrl+Enter 发送）", send: "发送",
      complete: "完成", resolution: "解决方式", wrap_up: "整理时间（秒）",
      transfer: "转接", to_queue: "转到队列", to_agent: "或转给坐席",
      escalate: "升级", note: "备注", pending: "等待客户", resume: "继续处理",
      milestone: "里程碑", target: "目标", mark_done: "标记完成", do_it: "确定",
      customer: "客户", other_requests: "其他请求", none: "无",
      sla: "服务水平", no_sla: "没有服务水平计时。", breached: "已超时",
      met: "已达成", paused: "已暂停", left: "剩余", overdue: "超时",
      shortcuts: "快捷键", k_accept: "接受第一个请求", k_reject: "拒绝它",
      k_send: "发送回复", k_next: "下一个 / 上一个请求",
      capacity_of: "{load} / {cap}", load: "负载", connected: "实时", reconnecting: "正在重连…",
      gone_expired: "{id} 的分配已超时。", gone_rejected: "{id} 已退回。",
      gone_completed: "{id} 已完成。", gone_transferred: "{id} 已转接。",
      gone_escalated: "{id} 已升级。", gone_abandoned: "客户已离开 {id}。",
      gone_requeued: "{id} 已回到队列。",
      queues: "队列", queue: "队列", waiting: "排队中", oldest: "最长等待",
      at_risk: "服务水平风险", service_level: "服务水平（1 小时，≤{s} 秒）",
      agents: "坐席", agent: "坐席", presence: "状态", in_state: "持续时间",
      work_now: "当前工作", actions: "操作", events: "超时与预警",
      no_events: "暂无。", set_away: "置为离开", capacity: "容量", assign: "分配",
      request_id: "请求", apply: "应用", cancel: "取消", busy: "忙碌",
      total_waiting: "排队中", total_available: "空闲坐席", total_busy: "忙碌坐席",
      total_risk: "有风险", ev_warning: "预警", ev_breached: "超时",
      partial: "（部分）", failed: "被拒绝：{m}", request: "请求", state: "状态",
      offered: "已分配待接", assigned: "处理中", pending_customer: "等待客户",
      completed: "已完成", abandoned: "已放弃", waiting_state: "排队中",
      name: "姓名", email: "邮箱", phone: "电话",
    },
  };
  var FD = (window.FD = window.FD || {});
  var stored = null;
  try { stored = localStorage.getItem("fd-lang"); } catch (e) { /* no storage: the page's own */ }
  FD.lang = stored === "zh" || stored === "en" ? stored : document.documentElement.lang === "zh" ? "zh" : "en";
  document.documentElement.lang = FD.lang;
  FD.t = function (key, fill) {
    var s = (words[FD.lang] && words[FD.lang][key]) || words.en[key] || key;
    return s.replace(/\{(\w+)\}/g, function (_, k) { return fill && k in fill ? String(fill[k]) : ""; });
  };
  FD.translate = function (root) {
    (root || document).querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = FD.t(el.getAttribute("data-i18n"));
    });
    (root || document).querySelectorAll("[data-i18n-ph]").forEach(function (el) {
      el.setAttribute("placeholder", FD.t(el.getAttribute("data-i18n-ph")));
    });
  };
  FD.switchLang = function () {
    FD.lang = FD.lang === "zh" ? "en" : "zh";
    document.documentElement.lang = FD.lang;
    try { localStorage.setItem("fd-lang", FD.lang); } catch (e) { /* this page only */ }
    FD.translate();
    if (FD.onLang) FD.onLang();
  };
})();
