// The review form's script: the buttons with ids `approve`, `approve-with-changes` and `reject`
// send the decision, with the text of `#comment`, to POST /api/control as the dashboard's own
// buttons do (JSON, same origin, `Authorization: Bearer` with the token this tab keeps in
// sessionStorage `ralph-token`, or that `?token=` gave). A decision the loop took is shown in
// `#decided`, a refusal or an error in `#review-error` (each made when the form has none).
(() => {
  const params = new URLSearchParams(location.search);
  if (params.get("token")) {
    sessionStorage.setItem("ralph-token", params.get("token"));
  }
  const token = sessionStorage.getItem("ralph-token");
  const $ = (id) => document.getElementById(id);
  function said(id) {
    let el = $(id);
    if (!el) {
      el = document.createElement("p");
      el.id = id;
      el.setAttribute("role", "status");
      document.body.appendChild(el);
    }
    el.hidden = false;
    return el;
  }
  const buttons = ["approve", "approve-with-changes", "reject"].map($).filter(Boolean);
  async function decide(which) {
    const comment = $("comment") ? $("comment").value.trim() : "";
    const signal = which === "reject"
      ? { signal: "reject" }
      : { signal: "approve", with_changes: which === "approve-with-changes" };
    if (comment) signal.comment = comment;
    if (!token) {
      said("review-error").textContent = "a decision needs the dashboard's token: open this page at the address the dashboard printed (with ?token=), or from the dashboard's page";
      return;
    }
    buttons.forEach((b) => { b.disabled = true; });
    let ok = false;
    let text;
    try {
      const response = await fetch("/api/control", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
        body: JSON.stringify(signal),
      });
      const body = await response.json().catch(() => ({}));
      ok = response.ok;
      text = ok
        ? "decided: " + (body.message || which)
        : "not decided: " + (body.message || body.error || response.status);
    } catch (e) {
      text = "not decided: " + e;
    }
    if (!ok) buttons.forEach((b) => { b.disabled = false; });
    if ($(ok ? "review-error" : "decided")) $(ok ? "review-error" : "decided").hidden = true;
    said(ok ? "decided" : "review-error").textContent = text;
  }
  buttons.forEach((b) => b.addEventListener("click", (e) => {
    e.preventDefault();
    decide(b.id);
  }));
})();
