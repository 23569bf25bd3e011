
ord-1 ž(ø0ó8‰)BEURH€Ðê¶·3PªÐê¶·3Zworker-1`