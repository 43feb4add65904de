// Package restore decides and builds a RaftCluster's restore from a
// backup (spec.bootstrap.restore): Next is a pure function from what one
// loop observed to the one step to take; FetchJob and the first member's
// claim (controllers/specs.MemberClaim) are the objects it creates.
//
// The order, each step observable so a crashed loop resumes it:
//
//  1. resolve the source: a Completed RaftBackup (its destination, key
//     and sha256), or spec's destination and key;
//  2. create the first member's PVC, exactly as the StatefulSet would;
//  3. run the fetch Job on it (raftnode backup fetch): it reads the file,
//     checks its sha256 and integrity trailer, and places it where the
//     member's --restore-from reads it;
//  4. once the Job succeeded, the RaftCluster reconciler records a
//     one-member bootstrap (the bootstrap ConfigMap): the first member
//     seeds a new cluster (new cluster and member IDs) from the file, and
//     the membership planner adds the others as learners and promotes
//     them, as for any scale-out.
//
// Dependency direction: imports api/v1alpha1, controllers/specs and the
// backup package's Secret key names; the controllers package imports it.
package restore
