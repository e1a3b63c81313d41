# The requests PYHANDLE's RESTHandleClient makes (handle-rest-api.md section 13: R1 to R8, in its order,
# with its headers, query strings and bodies), made with `requests` as PYHANDLE makes them, and what PYHANDLE
# reads from each answer checked. Run by test/http-interop.test.ts: python3 pyhandle_flow.py BASE_URL
import base64, json, sys, urllib.parse, requests
base = sys.argv[1] + '/api/handles/'
user, pw = '300:21.T11148/USER01', 's3cret'
auth = {'Authorization': 'Basic ' + base64.b64encode((urllib.parse.quote(user) + ':' + pw).encode()).decode(), 'Content-Type': 'application/json'}
s = requests.Session()
def show(tag, r): print(tag, r.status_code, r.text[:160])
r = s.get(base + '21.T11148/USER01', headers={'Accept': 'application/json'}); show('R1', r); assert r.status_code == 200 and r.json()['responseCode'] == 1 and r.json()['handle'] == '21.T11148/USER01'
h = '21.T11148/pyh-test'
r = s.get(base + h, headers={'Accept': 'application/json'}); show('R3', r); assert r.status_code == 404 and r.json()['responseCode'] == 100
body = {'values': [
  {'index': 100, 'type': 'HS_ADMIN', 'data': {'value': {'index': '200', 'handle': '0.NA/21.T11148', 'permissions': '011111110011'}, 'format': 'admin'}},
  {'index': 1, 'type': 'URL', 'data': 'http://example.org/pyh'},
  {'index': 2, 'type': 'CHECKSUM', 'data': 'abc123', 'ttl': 3600}]}
r = s.put(base + h + '?overwrite=false', headers=auth, data=json.dumps(body), allow_redirects=False); show('R4', r); assert r.status_code == 201 and r.json() == {'responseCode': 1, 'handle': h}
r = s.put(base + h + '?overwrite=false', headers=auth, data=json.dumps(body), allow_redirects=False); show('R4 again', r); assert r.status_code == 409 and r.json()['responseCode'] == 101
r = s.get(base + h + '?auth=true', headers={'Accept': 'application/json'}); show('R5', r); rec = r.json(); assert [v['index'] for v in rec['values']] == [1, 2, 100]
v = [x for x in rec['values'] if x['type'] == 'URL'][0]; del v['timestamp']; v['data'] = 'http://example.org/pyh-2'
r = s.put(base + h + '?index=1&index=3&overwrite=true', headers=auth, data=json.dumps({'values': [v, {'index': 3, 'type': 'EMAIL', 'data': 'a@b.org'}]})); show('R6', r); assert r.status_code in (200, 201) and r.json()['responseCode'] == 1
r = s.get(base + h + '?index=1'); assert r.json()['values'][0]['data']['value'] == 'http://example.org/pyh-2'
r = s.delete(base + h + '?index=3', headers={'Authorization': auth['Authorization']}); show('R7', r); assert r.status_code == 200
r = s.delete(base + h + '?index=3', headers={'Authorization': auth['Authorization']}); show('R7 missing', r); assert r.status_code == 400 and r.json()['responseCode'] == 200
bad = dict(auth); bad['Authorization'] = 'Basic ' + base64.b64encode((urllib.parse.quote(user) + ':wrong').encode()).decode()
r = s.put(base + '21.T11148/x?overwrite=false', headers=bad, data=json.dumps(body)); show('wrong pw', r); assert r.status_code == 401
r = s.delete(base + h, headers={'Authorization': auth['Authorization']}); show('R8', r); assert r.json()['handle'] == h and r.status_code == 200
r = s.delete(base + h, headers={'Authorization': auth['Authorization']}); show('R8 gone', r); assert r.status_code == 404 and r.json()['responseCode'] == 100
print('PYHANDLE-shaped flow: all as expected')
