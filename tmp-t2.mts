import { Client } from 'ssh2';
import { readFileSync } from 'node:fs';
const c = new Client();
c.on('ready', async () => {
  c.setNoDelay(true);
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await new Promise<void>((res) => c.exec(process.argv[2]!, (err, ch) => {
      const t1 = performance.now();
      ch.on('exit', () => console.log('exit', (performance.now()-t0).toFixed(1)));
      ch.on('close', () => { console.log('open', (t1-t0).toFixed(1), 'close', (performance.now()-t0).toFixed(1)); res(); });
      ch.resume(); ch.end();
    }));
  }
  c.end();
}).connect({ host: '127.0.0.1', port: 23242, username: 'root', privateKey: readFileSync('/tmp/np-ssh-utj5/client_key') });
