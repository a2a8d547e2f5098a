"""The current RFC 6238 code (SHA-1, 6 digits, 30 s) for an otpauth:// URI given as argv[1]."""
import base64, hashlib, hmac, struct, sys, time, urllib.parse

query = urllib.parse.parse_qs(urllib.parse.urlparse(sys.argv[1]).query)
secret = query["secret"][0]
key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
offset = digest[-1] & 0x0F
print("%06d" % ((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000))
