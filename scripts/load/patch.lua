-- wrk script: durable writes through the dialects. ROSTER_DIALECT=yuno sends
-- Yuno's PATCH /organizations/users/{id}/account-permissions, =lexful
-- Lexful's PATCH /v1/users/{id}; ROSTER_KEYS names a file of lines
-- `key_id<TAB>secret<TAB>acting_account_id<TAB>user_ids<TAB>account_ids`
-- (one per organization, written by run.sh). Each request sets one user's
-- role on one account, alternating between two roles on each pass so that
-- (after the first pass) every request changes a grant: one durable commit
-- with its audit event.
local dialect = os.getenv("ROSTER_DIALECT") or "yuno"
local keys_file = os.getenv("ROSTER_KEYS")
local targets = {}
local n = 0

function init(args)
  for line in io.lines(keys_file) do
    local kid, secret, acting, users, accounts = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)")
    if kid then
      local accs = {}
      for a in accounts:gmatch("[^,]+") do accs[#accs + 1] = a end
      for u in users:gmatch("[^,]+") do
        targets[#targets + 1] = { kid = kid, secret = secret, acting = acting, user = u, accounts = accs }
      end
    end
  end
  math.randomseed(os.time() + tonumber(tostring(args):match("0x(%x+)") or "0", 16))
  n = math.random(#targets * 4)
end

function request()
  n = n + 1
  local t = targets[n % #targets + 1]
  local pass = math.floor(n / #targets)
  local acc = t.accounts[(pass % #t.accounts) + 1]
  if dialect == "yuno" then
    local role = ({ "member", "viewer" })[(math.floor(pass / #t.accounts) % 2) + 1]
    local body = string.format('{"account_permissions":[{"account_id":"%s","role_id":"%s"}]}', acc, role)
    return wrk.format("PATCH", "/compat/yuno/v1/organizations/users/" .. t.user .. "/account-permissions",
      { ["Content-Type"] = "application/json", ["PUBLIC-API-KEY"] = t.kid, ["PRIVATE-SECRET-KEY"] = t.secret }, body)
  else
    local role = ({ "support", "viewer" })[(pass % 2) + 1]
    local body = string.format('{"role":"%s","account_scopes":["%s"]}', role, acc)
    return wrk.format("PATCH", "/compat/lexful/v1/users/" .. t.user,
      { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. t.secret, ["X-Account-ID"] = t.acting }, body)
  end
end
