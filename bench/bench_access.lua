-- wrk script: POST /v1/access/check for a user holding an active grant.
-- The bearer token comes from the MAMORI_TOKEN environment variable.
wrk.method = "POST"
wrk.body = '{"user":"op1","target":"bench","action":"ssh"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("MAMORI_TOKEN")

local allowed, other = 0, 0

response = function(status, headers, body)
  if status == 200 and body:find('"allowed":true', 1, true) then
    allowed = allowed + 1
  else
    other = other + 1
  end
end
