package sealing

// DataKeyID exposes dataKeyID to the external tests, which forge values around altered blobs.
var DataKeyID = dataKeyID
