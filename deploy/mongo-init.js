// Run by the mongo-init service of compose.yaml: initiates rs0 on first start, then waits until a
// primary is elected, so that Flint starts against a writable replica set.
const config = {
  _id: 'rs0',
  members: [
    { _id: 0, host: 'mongo1:27017', priority: 2 },
    { _id: 1, host: 'mongo2:27017', priority: 1 },
    { _id: 2, host: 'mongo3:27017', priority: 1 },
  ],
};
try {
  rs.status();
  print('replica set rs0 already initiated');
} catch (e) {
  if (e.codeName !== 'NotYetInitialized') throw e;
  rs.initiate(config);
  print('replica set rs0 initiated');
}
for (let i = 0; i < 120; i++) {
  const primary = db.adminCommand({ hello: 1 }).primary;
  if (primary) {
    print(`primary: ${primary}`);
    quit(0);
  }
  sleep(1000);
}
print('no primary after 120 s');
quit(1);
