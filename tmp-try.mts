import { SshExecutor } from './src/exec/ssh.js';
const fp = process.argv[2]!;
const ex = new SshExecutor({ address: '127.0.0.1', port: 23242, privateKeyPath: '/tmp/np-ssh-utj5/client_key', hostKeySha256: fp });
console.log(await ex.run(['printf', '%s\\0', 'a b', "it's", '$(id)']));
console.log(await ex.run(['sh', '-c', 'exit 7']));
console.log(await ex.run(['cat'], { stdin: 'hi\n' }));
console.log(await ex.run(['sleep', '5'], { timeoutMs: 1000 }));
console.log(ex.connectionCount);
await ex.close();
