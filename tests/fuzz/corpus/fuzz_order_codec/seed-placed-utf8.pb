
ord-éc-中
SKU-😀"EUR