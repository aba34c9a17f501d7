// A bittorrent-dht node (the npm package, an independent KRPC and BEP 44 implementation) driven
// by JSON lines on stdin, for kadnode's interoperability tests. Each command gets one JSON line
// back on stdout. Usage: node peer.mjs HOST BOOTSTRAP_HOST:PORT
//
// Commands: {"op":"addr"}, {"op":"put","v":TEXT}, {"op":"mput","seed":HEX,"salt":S,"seq":N,"v":TEXT},
// {"op":"get","target":HEX,"salt":S?}, {"op":"announce","info_hash":HEX,"port":N},
// {"op":"lookup","info_hash":HEX}, {"op":"find_node","target":HEX}.
import crypto from 'node:crypto'
import readline from 'node:readline'
import DHT from 'bittorrent-dht'

const [host, bootstrap] = process.argv.slice(2)

const b64url = (buf) => Buffer.from(buf).toString('base64url')
function publicKeyOf (pk) {
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pk) }, format: 'jwk' })
}
function keyPair (seedHex) {
  const seed = Buffer.from(seedHex, 'hex')
  const priv = crypto.createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: '' }, format: 'jwk'
  })
  const pub = crypto.createPublicKey(priv).export({ format: 'jwk' })
  return { priv, pk: Buffer.from(pub.x, 'base64url') }
}
const verify = (sig, msg, pk) => {
  try {
    return crypto.verify(null, msg, publicKeyOf(pk), sig)
  } catch {
    return false
  }
}

const dht = new DHT({ bootstrap: [bootstrap], host, verify })
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

function run (c) {
  switch (c.op) {
    case 'addr':
      return out({ ok: true, addr: host + ':' + dht.address().port, id: dht.nodeId.toString('hex'), nodes: dht.toJSON().nodes.length })
    case 'put':
      return dht.put({ v: Buffer.from(c.v) }, (err, hash, n) =>
        out({ ok: !err, error: err && err.message, target: hash && hash.toString('hex'), n }))
    case 'mput': {
      const { priv, pk } = keyPair(c.seed)
      const opts = { k: pk, seq: c.seq, v: Buffer.from(c.v), sign: (buf) => crypto.sign(null, buf, priv) }
      if (c.salt) opts.salt = Buffer.from(c.salt)
      return dht.put(opts, (err, hash, n) =>
        out({ ok: !err, error: err && err.message, target: hash && hash.toString('hex'), public_key: pk.toString('hex'), n }))
    }
    case 'get': {
      const opts = { cache: false }
      if (c.salt) opts.salt = Buffer.from(c.salt)
      return dht.get(c.target, opts, (err, res) => out({
        ok: !err && !!res,
        error: err && err.message,
        v: res && res.v && Buffer.from(res.v).toString(),
        seq: res ? res.seq : undefined,
        from: res && res.id ? Buffer.from(res.id).toString('hex') : undefined
      }))
    }
    case 'announce':
      return dht.announce(c.info_hash, c.port, (err) => out({ ok: !err, error: err && err.message }))
    case 'lookup': {
      const peers = []
      const onpeer = (peer, infoHash) => {
        if (infoHash.toString('hex') === c.info_hash) peers.push(peer.host + ':' + peer.port)
      }
      dht.on('peer', onpeer)
      return dht.lookup(c.info_hash, (err) => {
        dht.removeListener('peer', onpeer)
        out({ ok: !err, error: err && err.message, peers })
      })
    }
    default:
      return out({ ok: false, error: 'unknown op ' + c.op })
  }
}

dht.on('error', (err) => out({ event: 'error', error: err.message }))
dht.listen(0, host, () => {
  dht.once('ready', () => out({ event: 'ready', addr: host + ':' + dht.address().port }))
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim()) run(JSON.parse(line))
  }).on('close', () => dht.destroy(() => process.exit(0)))
})
