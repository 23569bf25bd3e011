
ord-2c-7
SKU-002ô
SKU-003x"JPY2
channelweb2
couponSPRING