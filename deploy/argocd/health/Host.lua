-- Argo CD health check for kovirt.io/Host (Lua 5.1, as Argo CD's gopher-lua).
-- Phases: Ready, NotReady, Maintenance (kovirt/api/v1alpha1/host.py). Hosts are written by
-- the node agent, not kept in Git; the check matters when an Application tracks them.
local hs = { status = "Progressing", message = "Waiting for the node agent to report status" }
if obj.status == nil or obj.status.phase == nil then
  return hs
end
local why = ""
for _, condition in ipairs(obj.status.conditions or {}) do
  if condition.type == "Ready" and condition.message ~= nil and condition.message ~= "" then
    why = ": " .. condition.message
  end
end
local phase = obj.status.phase
if phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "Ready"
elseif phase == "Maintenance" then
  hs.status = "Suspended"
  hs.message = "In maintenance (spec.maintenance)"
else
  hs.status = "Degraded"
  hs.message = phase .. why
end
return hs
